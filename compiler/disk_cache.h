// kiln — the on-disk cache of compiled objects (KILN_CACHE_DIR). Included only by compiler/*.cc.
//
// One file per compiled function, <dir>/<sha256 of the key, 32 hex digits>.kobj:
//   header   magic "KILNOBJ\n", format version (u32), flags (u32, 0), then the byte lengths (u64)
//            of the key, the entry symbol, the object and the LLVM IR, and an xxh3-64 checksum
//            (u64) of everything after the header
//   body     the full key text, the entry symbol, the relocatable object, the optimized LLVM IR
// The key text names everything the object depends on (see disk_cache_key). A file is trusted
// only if its magic, version, lengths, checksum and full key all match; anything else (truncated,
// corrupt, written for another key or by another format) reads as invalid, and the caller
// recompiles and replaces it. Files are written to a temporary name and renamed, so a reader
// never sees half a file, and concurrent writers of one key leave one whole file.
//
// The directory is bounded: after a write, disk_cache_trim removes the least recently used
// entries (by modification time; a hit sets it to now) until the entries fit the bound. Only
// files named like an entry (<32 hex digits>.kobj) or like a temporary file of one
// (<entry>.tmp.<pid>.<n>) are ever removed; anything else in the directory is left alone.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "compiler/compile.h"

namespace kiln::compiler {

// The text that identifies compiled code: the kiln code generator (a hash of its sources), the
// LLVM version, the target CPU name and features, the LLVM optimization level, the thread count,
// `signature` (the caller's description of the call signature) and the optimized IR `ir_text`.
std::string disk_cache_key(const std::string& ir_text, const std::string& signature,
                           const CompileOptions& options);

// The file that holds `key` in `dir`.
std::string disk_cache_path(const std::string& dir, const std::string& key);

struct DiskCacheEntry {
  std::string entry_symbol;
  std::string object;
  std::string llvm_ir;
};

struct DiskCacheLookup {
  enum Result { kHit, kAbsent, kInvalid } result = kAbsent;
  std::string why;  // for kInvalid: what did not match
  DiskCacheEntry entry;
};

// Reads and verifies the entry for `key`; on a hit, sets the file's modification time to now
// (its last use, for disk_cache_trim). Never throws; I/O errors read as kAbsent.
DiskCacheLookup disk_cache_read(const std::string& dir, const std::string& key);

// Stores `entry` under `key` (creating `dir` if needed), atomically. Returns false if it could
// not; the first failure in the process prints one warning to stderr, later ones are silent.
bool disk_cache_write(const std::string& dir, const std::string& key, const DiskCacheEntry& entry);

// Whether a file name (without directory) is an entry's, or a temporary file's being written.
bool disk_cache_is_entry_name(std::string_view name);
bool disk_cache_is_temp_name(std::string_view name);

// Temporary files older than this are left over from writers that died, and are removed.
inline constexpr int64_t kDiskCacheStaleTempSeconds = 10 * 60;

// Removes stale temporary files from `dir`, then, while the entries' total size exceeds
// `max_bytes`, the least recently modified entry other than the file `keep` (the one just
// written, kept even if it alone exceeds the bound). Files another process removes meanwhile
// are skipped. Never throws; returns the number of entries it removed.
int64_t disk_cache_trim(const std::string& dir, int64_t max_bytes, const std::string& keep);

// The bound given by the text of KILN_CACHE_MAX_BYTES: a positive decimal number of bytes.
// Null or empty = kDefaultDiskCacheMaxBytes. Anything else (0, negative, not a number, too
// large) sets `*error` to a description and returns the default.
int64_t disk_cache_parse_max_bytes(const char* text, std::string* error);

// disk_cache_parse_max_bytes of the environment variable KILN_CACHE_MAX_BYTES; a bad value
// prints one warning to stderr (once per distinct value in the process).
int64_t disk_cache_max_bytes_from_env();

// The encoding of a file (exposed for tests that build damaged ones).
std::string disk_cache_encode(const std::string& key, const DiskCacheEntry& entry);

}  // namespace kiln::compiler
