// kiln — the on-disk cache of compiled objects: keys, the file format, atomic writes.
#include "compiler/disk_cache.h"

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <system_error>

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

}  // namespace

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
  std::ifstream in(disk_cache_path(dir, key), std::ios::binary);
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
