// kiln — the on-disk cache of compiled objects: keys, the file format, atomic writes.
#include "compiler/disk_cache.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <system_error>
#include <vector>

#include "compiler/codegen_id.h"
#include "compiler/jit.h"
#include "llvm/Support/SHA256.h"
#include "llvm/Support/xxhash.h"
#include "runtime/parallel.h"
#include "support/str.h"

namespace kiln::compiler {
namespace {

constexpr char kMagic[8] = {'K', 'I', 'L', 'N', 'O', 'B', 'J', '\n'};
constexpr uint32_t kFormatVersion = 1;

// magic, version, flags, 4 lengths, checksum
constexpr size_t kHeaderBytes = 8 + 4 + 4 + 4 * 8 + 8;

void put32(std::string& out, uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); }
void put64(std::string& out, uint64_t v) { out.append(reinterpret_cast<const char*>(&v), 8); }
uint32_t get32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint64_t get64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

uint64_t checksum(const char* data, size_t size) {
  return llvm::xxh3_64bits(llvm::StringRef(data, size));
}

std::atomic<bool> warned{false};

void warn_once(const std::string& dir, const std::string& why) {
  if (warned.exchange(true)) return;
  std::cerr << "kiln: warning: cannot write to the compiled-code cache directory " << dir << " ("
            << why << "); compiled code is not stored on disk\n";
}

bool is_hex_digest(std::string_view s) {
  return s.size() == 32 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

bool is_decimal(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

bool disk_cache_is_entry_name(std::string_view name) {
  return name.size() == 32 + 5 && name.substr(32) == ".kobj" && is_hex_digest(name.substr(0, 32));
}

bool disk_cache_is_temp_name(std::string_view name) {
  // <entry>.tmp.<pid>.<counter>
  constexpr std::string_view kTmp = ".tmp.";
  if (name.size() <= 37 + kTmp.size() || !disk_cache_is_entry_name(name.substr(0, 37)) ||
      name.substr(37, kTmp.size()) != kTmp) {
    return false;
  }
  const std::string_view rest = name.substr(37 + kTmp.size());
  const size_t dot = rest.find('.');
  return dot != std::string_view::npos && is_decimal(rest.substr(0, dot)) &&
         is_decimal(rest.substr(dot + 1));
}

int64_t disk_cache_trim(const std::string& dir, int64_t max_bytes, const std::string& keep) {
  namespace fs = std::filesystem;
  struct Entry {
    fs::file_time_type mtime;
    std::string name;
    int64_t bytes;
  };
  std::vector<Entry> entries;
  int64_t total = 0;
  const auto now = fs::file_time_type::clock::now();
  const std::string keep_name = fs::path(keep).filename().string();
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) return 0;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) break;
    const std::string name = it->path().filename().string();
    const bool entry = disk_cache_is_entry_name(name);
    if (!entry && !disk_cache_is_temp_name(name)) continue;  // not kiln's: never touched
    std::error_code file_ec;
    if (!it->is_regular_file(file_ec) || file_ec) continue;
    const fs::file_time_type mtime = fs::last_write_time(it->path(), file_ec);
    if (file_ec) continue;  // removed meanwhile
    if (!entry) {
      if (now - mtime > std::chrono::seconds(kDiskCacheStaleTempSeconds)) {
        fs::remove(it->path(), file_ec);
      }
      continue;
    }
    const uintmax_t bytes = fs::file_size(it->path(), file_ec);
    if (file_ec) continue;
    total += static_cast<int64_t>(bytes);
    if (name != keep_name) entries.push_back({mtime, name, static_cast<int64_t>(bytes)});
  }
  if (total <= max_bytes) return 0;
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.mtime != b.mtime ? a.mtime < b.mtime : a.name < b.name;
  });
  int64_t removed = 0;
  for (const Entry& e : entries) {
    if (total <= max_bytes) break;
    std::error_code file_ec;
    // false without an error: another process removed it first; either way it is gone.
    if (fs::remove(fs::path(dir) / e.name, file_ec)) ++removed;
    if (!file_ec) total -= e.bytes;
  }
  return removed;
}

int64_t disk_cache_parse_max_bytes(const char* text, std::string* error) {
  if (text == nullptr || *text == '\0') return kDefaultDiskCacheMaxBytes;
  const std::string_view s(text);
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (!is_decimal(s) || ec != std::errc() || end != s.data() + s.size() || value <= 0) {
    *error = cat("KILN_CACHE_MAX_BYTES=\"", s,
                 "\" is not a positive whole number of bytes; the on-disk cache is bounded by the "
                 "default, ",
                 kDefaultDiskCacheMaxBytes, " bytes (1 GiB)");
    return kDefaultDiskCacheMaxBytes;
  }
  return value;
}

int64_t disk_cache_max_bytes_from_env() {
  const char* text = std::getenv("KILN_CACHE_MAX_BYTES");
  std::string error;
  const int64_t bytes = disk_cache_parse_max_bytes(text, &error);
  if (!error.empty()) {
    static std::mutex mu;
    static std::string warned_for;
    std::lock_guard<std::mutex> lock(mu);
    if (warned_for != text) {
      warned_for = text;
      std::cerr << "kiln: warning: " << error << "\n";
    }
  }
  return bytes;
}

std::string disk_cache_key(const std::string& ir_text, const std::string& signature,
                           const CompileOptions& options) {
  const std::string cpu = options.cpu.empty() ? host_cpu_name() : options.cpu;
  const std::string features =
      options.cpu.empty() && options.features.empty() ? host_cpu_features() : options.features;
  return cat("kiln compiled-code cache key\nkiln ", KILN_CODEGEN_ID, "\nllvm ", llvm_version(),
             "\ncpu ", cpu, "\nfeatures ", features, "\nopt ", options.opt_level, "\nthreads ",
             config::num_threads(), "\nsignature ", signature, "\nir\n", ir_text);
}

std::string disk_cache_path(const std::string& dir, const std::string& key) {
  const auto digest = llvm::SHA256::hash(
      llvm::ArrayRef<uint8_t>(reinterpret_cast<const uint8_t*>(key.data()), key.size()));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string name;
  for (size_t i = 0; i < 16; ++i) {
    name += kHex[digest[i] >> 4];
    name += kHex[digest[i] & 15];
  }
  return cat(dir, "/", name, ".kobj");
}

std::string disk_cache_encode(const std::string& key, const DiskCacheEntry& entry) {
  std::string body;
  body.reserve(key.size() + entry.entry_symbol.size() + entry.object.size() + entry.llvm_ir.size());
  body += key;
  body += entry.entry_symbol;
  body += entry.object;
  body += entry.llvm_ir;
  std::string out(kMagic, sizeof(kMagic));
  put32(out, kFormatVersion);
  put32(out, 0);
  put64(out, key.size());
  put64(out, entry.entry_symbol.size());
  put64(out, entry.object.size());
  put64(out, entry.llvm_ir.size());
  put64(out, checksum(body.data(), body.size()));
  return out + body;
}

DiskCacheLookup disk_cache_read(const std::string& dir, const std::string& key) {
  DiskCacheLookup out;
  const std::string path = disk_cache_path(dir, key);
  std::ifstream in(path, std::ios::binary);
  if (!in) return out;  // kAbsent
  std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return out;
  auto invalid = [&out](std::string why) {
    out.result = DiskCacheLookup::kInvalid;
    out.why = std::move(why);
    return out;
  };
  if (file.size() < kHeaderBytes) return invalid("shorter than a header");
  const char* p = file.data();
  if (std::memcmp(p, kMagic, sizeof(kMagic)) != 0) return invalid("not a kiln cache file");
  if (get32(p + 8) != kFormatVersion) return invalid("another format version");
  uint64_t lengths[4];
  uint64_t total = 0;
  const uint64_t available = file.size() - kHeaderBytes;
  for (int i = 0; i < 4; ++i) {
    lengths[i] = get64(p + 16 + 8 * i);
    if (lengths[i] > available) return invalid("a length beyond the end of the file");
    total += lengths[i];
  }
  if (total != available) return invalid("lengths do not add up to the file size");
  const char* body = p + kHeaderBytes;
  if (checksum(body, available) != get64(p + 48)) return invalid("checksum mismatch");
  if (lengths[0] != key.size() || std::memcmp(body, key.data(), key.size()) != 0) {
    return invalid("written for another key");
  }
  body += lengths[0];
  out.entry.entry_symbol.assign(body, lengths[1]);
  body += lengths[1];
  out.entry.object.assign(body, lengths[2]);
  body += lengths[2];
  out.entry.llvm_ir.assign(body, lengths[3]);
  if (out.entry.entry_symbol.empty() || out.entry.object.empty()) {
    return invalid("no entry symbol or object");
  }
  out.result = DiskCacheLookup::kHit;
  // Marks the entry as recently used; failing to (a read-only directory) only weakens the LRU.
  std::error_code ec;
  std::filesystem::last_write_time(path, std::filesystem::file_time_type::clock::now(), ec);
  return out;
}

bool disk_cache_write(const std::string& dir, const std::string& key, const DiskCacheEntry& entry) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    warn_once(dir, ec.message());
    return false;
  }
  static std::atomic<uint64_t> counter{0};
  const std::string path = disk_cache_path(dir, key);
  const std::string tmp = cat(path, ".tmp.", ::getpid(), ".", ++counter);
  const std::string bytes = disk_cache_encode(key, entry);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) {
      warn_once(dir, std::strerror(errno));
      return false;
    }
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) {
      std::filesystem::remove(tmp, ec);
      warn_once(dir, "writing a file failed");
      return false;
    }
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    warn_once(dir, ec.message());
    return false;
  }
  return true;
}

}  // namespace kiln::compiler
