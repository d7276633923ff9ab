// kiln — .npy/.npz reading and writing, with a minimal zip (stored entries, CRC32) of our own.
#include "runtime/npy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "support/error.h"
#include "support/str.h"

namespace kiln {
namespace {

constexpr char kMagic[] = "\x93NUMPY";

std::string descr_of(DType dtype) {
  switch (dtype) {
    case DType::kFloat16:
      return "<f2";
    case DType::kFloat32:
      return "<f4";
    case DType::kFloat64:
      return "<f8";
    case DType::kInt32:
      return "<i4";
    case DType::kInt64:
      return "<i8";
    case DType::kBool:
      return "|b1";
    case DType::kBFloat16:
      break;
  }
  throw UnimplementedError(cat("save: NumPy has no ", dtype_name(dtype),
                               " dtype; cast the tensor (e.g. to float32) to save it"));
}

std::optional<DType> dtype_of_descr(const std::string& d) {
  if (d == "<f2") return DType::kFloat16;
  if (d == "<f4") return DType::kFloat32;
  if (d == "<f8") return DType::kFloat64;
  if (d == "<i4") return DType::kInt32;
  if (d == "<i8") return DType::kInt64;
  if (d == "|b1" || d == "<b1") return DType::kBool;
  return std::nullopt;
}

[[noreturn]] void bad_file(const std::string& what, std::string_view problem) {
  throw InvalidArgumentError(cat("load: ", what, ": ", problem));
}

// Reads the header dict: {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& what) : s_(text), what_(what) {}

  void parse(std::string& descr, bool& fortran, std::vector<int64_t>& shape) {
    bool have_descr = false, have_fortran = false, have_shape = false;
    expect('{');
    for (;;) {
      skip();
      if (peek() == '}') break;
      const std::string key = string();
      expect(':');
      skip();
      if (key == "descr") {
        descr = string();
        have_descr = true;
      } else if (key == "fortran_order") {
        fortran = boolean();
        have_fortran = true;
      } else if (key == "shape") {
        shape = tuple();
        have_shape = true;
      } else {
        fail(cat("unexpected key '", key, "'"));
      }
      skip();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() != '}') fail("expected ',' or '}'");
    }
    if (!have_descr || !have_fortran || !have_shape) {
      fail("missing 'descr', 'fortran_order' or 'shape'");
    }
  }

 private:
  [[noreturn]] void fail(std::string_view problem) {
    bad_file(what_, cat("bad header dict (", problem, " at offset ", pos_, "): ", s_));
  }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void skip() {
    while (peek() == ' ') ++pos_;
  }
  void expect(char c) {
    skip();
    if (peek() != c) fail(cat("expected '", c, "'"));
    ++pos_;
  }
  std::string string() {
    skip();
    const char q = peek();
    if (q != '\'' && q != '"') fail("expected a string");
    const size_t end = s_.find(q, pos_ + 1);
    if (end == std::string_view::npos) fail("unterminated string");
    std::string out(s_.substr(pos_ + 1, end - pos_ - 1));
    pos_ = end + 1;
    return out;
  }
  bool boolean() {
    if (s_.substr(pos_, 4) == "True") return pos_ += 4, true;
    if (s_.substr(pos_, 5) == "False") return pos_ += 5, false;
    fail("expected True or False");
  }
  std::vector<int64_t> tuple() {
    expect('(');
    std::vector<int64_t> dims;
    for (;;) {
      skip();
      if (peek() == ')') break;
      if (!std::isdigit(static_cast<unsigned char>(peek()))) fail("expected a dimension");
      int64_t v = 0;
      while (std::isdigit(static_cast<unsigned char>(peek()))) {
        if (v > (int64_t{1} << 48)) fail("dimension too large");
        v = v * 10 + (s_[pos_++] - '0');
      }
      dims.push_back(v);
      skip();
      if (peek() == ',')
        ++pos_;
      else if (peek() != ')')
        fail("expected ',' or ')'");
    }
    ++pos_;
    return dims;
  }

  std::string_view s_;
  const std::string& what_;
  size_t pos_ = 0;
};

// ---- Files ---------------------------------------------------------------------------------

std::string read_file(const std::string& path, const char* op) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InvalidArgumentError(cat(op, ": cannot open ", path, ": ", std::strerror(errno)));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Writes `bytes` to a temporary file next to `path`, then renames it over `path`.
void write_file_atomically(const std::string& path, std::string_view bytes, const char* op) {
  std::string tmp = path + ".tmp.XXXXXX";
  const int fd = mkstemp(tmp.data());
  if (fd < 0) {
    throw InvalidArgumentError(
        cat(op, ": cannot create a temporary file next to ", path, ": ", std::strerror(errno)));
  }
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw InvalidArgumentError(cat(op, ": cannot write ", path, ": ", std::strerror(err)));
    }
    done += static_cast<size_t>(n);
  }
  fchmod(fd, 0644);
  if (::close(fd) != 0 || std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw InvalidArgumentError(cat(op, ": cannot write ", path, ": ", std::strerror(err)));
  }
}

// ---- Zip -----------------------------------------------------------------------------------

uint32_t crc32(std::string_view data) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : data) c = table[(c ^ b) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

void put16(std::string& out, uint32_t v) {
  out += static_cast<char>(v & 0xFF);
  out += static_cast<char>((v >> 8) & 0xFF);
}
void put32(std::string& out, uint32_t v) {
  put16(out, v & 0xFFFF);
  put16(out, v >> 16);
}
uint32_t get16(std::string_view s, size_t at) {
  return static_cast<uint8_t>(s[at]) | static_cast<uint8_t>(s[at + 1]) << 8;
}
uint32_t get32(std::string_view s, size_t at) { return get16(s, at) | get16(s, at + 2) << 16; }
uint64_t get64(std::string_view s, size_t at) {
  return get32(s, at) | static_cast<uint64_t>(get32(s, at + 4)) << 32;
}

}  // namespace

std::string to_npy_bytes(const Tensor& t) {
  std::string dict =
      cat("{'descr': '", descr_of(t.dtype()), "', 'fortran_order': False, 'shape': (");
  for (int i = 0; i < t.rank(); ++i) dict += cat(i ? ", " : "", t.shape()[i]);
  if (t.rank() == 1) dict += ",";
  dict += "), }";
  // Pad with spaces so that the data starts at a multiple of 64; the header ends in '\n'.
  const bool v2 = dict.size() + 1 + 10 > 65535;
  const size_t prefix = v2 ? 12 : 10;
  const size_t total = (prefix + dict.size() + 1 + 63) / 64 * 64;
  dict.append(total - prefix - dict.size() - 1, ' ');
  dict += '\n';
  std::string out(kMagic, 6);
  out += static_cast<char>(v2 ? 2 : 1);
  out += '\0';
  if (v2)
    put32(out, dict.size());
  else
    put16(out, dict.size());
  out += dict;
  out.append(static_cast<const char*>(t.raw_data()), t.num_elements() * dtype_size(t.dtype()));
  return out;
}

Tensor from_npy_bytes(std::string_view b, const std::string& what) {
  if (b.size() < 10 || b.substr(0, 6) != std::string_view(kMagic, 6)) {
    bad_file(what, "not a .npy file (bad magic; expected \\x93NUMPY)");
  }
  const int major = static_cast<uint8_t>(b[6]), minor = static_cast<uint8_t>(b[7]);
  if (major < 1 || major > 3 || minor != 0) {
    bad_file(what, cat("unsupported .npy format version ", major, ".", minor));
  }
  const size_t prefix = major == 1 ? 10 : 12;
  if (b.size() < prefix) bad_file(what, "truncated header");
  const size_t header_len = major == 1 ? get16(b, 8) : get32(b, 8);
  if (b.size() < prefix + header_len) bad_file(what, "truncated header");
  std::string descr;
  bool fortran = false;
  std::vector<int64_t> dims;
  std::string_view header = b.substr(prefix, header_len);
  while (!header.empty() && (header.back() == '\n' || header.back() == ' '))
    header.remove_suffix(1);
  HeaderParser(header, what).parse(descr, fortran, dims);
  if (fortran) bad_file(what, "Fortran-order arrays are not supported (save with order='C')");
  const std::optional<DType> dtype = dtype_of_descr(descr);
  if (!dtype) {
    bad_file(what, cat("unsupported dtype '", descr,
                       "' (kiln reads '<f2', '<f4', '<f8', '<i4', '<i8' and '|b1')"));
  }
  Shape shape(dims);
  const size_t need = shape.num_elements() * dtype_size(*dtype);
  const size_t have = b.size() - prefix - header_len;
  if (have < need) {
    bad_file(what,
             cat("truncated data: expected ", need, " bytes for shape ", shape, ", got ", have));
  }
  Tensor t = from_buffer(b.data() + prefix + header_len, *dtype, shape);
  if (*dtype == DType::kBool) {
    auto* p = static_cast<uint8_t*>(t.mutable_raw_data());
    for (int64_t i = 0; i < t.num_elements(); ++i) p[i] = p[i] != 0;
  }
  return t;
}

void save_npy(const std::string& path, const Tensor& t) {
  write_file_atomically(path, to_npy_bytes(t), "save_npy");
}

Tensor load_npy(const std::string& path) {
  return from_npy_bytes(read_file(path, "load_npy"), path);
}

void save_npz(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& arrays) {
  std::string zip, central;
  for (const auto& [name, t] : arrays) {
    const std::string file = name + ".npy";
    const std::string data = to_npy_bytes(t);
    if (data.size() >= 0xFFFFFFFFu || zip.size() >= 0xFFFFFFFFu) {
      throw UnimplementedError(cat("save_npz: ", path, ": archives over 4 GiB are not supported"));
    }
    const uint32_t crc = crc32(data), offset = zip.size();
    // Local file header: version 2.0, no flags, stored, DOS time 1980-01-01 00:00.
    put32(zip, 0x04034b50);
    for (uint32_t v : {20u, 0u, 0u, 0u, 0x21u}) put16(zip, v);
    put32(zip, crc);
    put32(zip, data.size());
    put32(zip, data.size());
    put16(zip, file.size());
    put16(zip, 0);
    zip += file;
    zip += data;
    put32(central, 0x02014b50);
    for (uint32_t v : {20u, 20u, 0u, 0u, 0u, 0x21u}) put16(central, v);
    put32(central, crc);
    put32(central, data.size());
    put32(central, data.size());
    for (uint32_t v : {static_cast<uint32_t>(file.size()), 0u, 0u, 0u, 0u}) put16(central, v);
    put32(central, 0);  // external attributes
    put32(central, offset);
    central += file;
  }
  const uint32_t cd_offset = zip.size();
  zip += central;
  put32(zip, 0x06054b50);
  for (uint32_t v :
       {0u, 0u, static_cast<uint32_t>(arrays.size()), static_cast<uint32_t>(arrays.size())})
    put16(zip, v);
  put32(zip, central.size());
  put32(zip, cd_offset);
  put16(zip, 0);
  write_file_atomically(path, zip, "save_npz");
}

std::map<std::string, Tensor> load_npz(const std::string& path) {
  const std::string z = read_file(path, "load_npz");
  // The end-of-central-directory record is in the last 64 KiB + 22 bytes.
  size_t eocd = std::string::npos;
  for (size_t i = z.size() >= 22 ? z.size() - 22 : 0; z.size() >= 22; --i) {
    if (get32(z, i) == 0x06054b50) {
      eocd = i;
      break;
    }
    if (i == 0 || z.size() - i > 65535 + 22) break;
  }
  if (eocd == std::string::npos)
    bad_file(path, "not a .npz file (no zip end-of-central-directory record)");
  const uint32_t count = get16(z, eocd + 10);
  size_t at = get32(z, eocd + 16);
  std::map<std::string, Tensor> out;
  for (uint32_t e = 0; e < count; ++e) {
    if (at + 46 > z.size() || get32(z, at) != 0x02014b50)
      bad_file(path, "corrupt zip central directory");
    const uint32_t method = get16(z, at + 10), crc = get32(z, at + 16);
    uint64_t size = get32(z, at + 20), usize = get32(z, at + 24);
    const uint32_t name_len = get16(z, at + 28), extra_len = get16(z, at + 30),
                   comment_len = get16(z, at + 32);
    uint64_t local = get32(z, at + 42);
    if (at + 46 + name_len + extra_len > z.size()) bad_file(path, "corrupt zip central directory");
    const std::string name = z.substr(at + 46, name_len);
    // Zip64 extra field (NumPy writes one when forced): the 0xFFFFFFFF fields, in order.
    for (size_t x = at + 46 + name_len; x + 4 <= at + 46 + name_len + extra_len;) {
      const uint32_t id = get16(z, x), len = get16(z, x + 2);
      size_t f = x + 4;
      if (id == 0x0001) {
        if (usize == 0xFFFFFFFFu && f + 8 <= x + 4 + len) usize = get64(z, f), f += 8;
        if (size == 0xFFFFFFFFu && f + 8 <= x + 4 + len) size = get64(z, f), f += 8;
        if (local == 0xFFFFFFFFu && f + 8 <= x + 4 + len) local = get64(z, f), f += 8;
      }
      x += 4 + len;
    }
    at += 46 + name_len + extra_len + comment_len;
    if (method != 0) {
      bad_file(path, cat("entry '", name, "' is compressed (method ", method,
                         "); only uncompressed archives (np.savez) are supported"));
    }
    if (local + 30 > z.size() || get32(z, local) != 0x04034b50) {
      bad_file(path, cat("entry '", name, "': corrupt local header"));
    }
    const size_t data = local + 30 + get16(z, local + 26) + get16(z, local + 28);
    if (data + size > z.size() || size != usize)
      bad_file(path, cat("entry '", name, "': truncated data"));
    const std::string_view bytes(z.data() + data, size);
    if (crc32(bytes) != crc) bad_file(path, cat("entry '", name, "': CRC32 mismatch"));
    std::string key = name;
    if (key.size() > 4 && key.ends_with(".npy")) key.resize(key.size() - 4);
    out[key] = from_npy_bytes(bytes, cat(path, "[", name, "]"));
  }
  return out;
}

}  // namespace kiln
