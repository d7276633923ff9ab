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
#pragma once

#include <string>

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

// Reads and verifies the entry for `key`. Never throws; I/O errors read as kAbsent.
DiskCacheLookup disk_cache_read(const std::string& dir, const std::string& key);

// Stores `entry` under `key` (creating `dir` if needed), atomically. Returns false if it could
// not; the first failure in the process prints one warning to stderr, later ones are silent.
bool disk_cache_write(const std::string& dir, const std::string& key, const DiskCacheEntry& entry);

// The encoding of a file (exposed for tests that build damaged ones).
std::string disk_cache_encode(const std::string& key, const DiskCacheEntry& entry);

}  // namespace kiln::compiler
