// kiln — the on-disk cache of compiled objects (KILN_CACHE_DIR) and the in-memory cache's byte
// bound: hits across kiln::function instances, damaged entries recompiled and replaced, keys.
#include "compiler/disk_cache.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "compiler/function.h"
#include "runtime/array_ops.h"
#include "runtime/ops.h"
#include "runtime/parallel.h"
#include "tests/unit/compiler/test_util.h"
#include "tests/unit/error_util.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;

// A fresh directory under the system's temporary directory, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = (fs::temp_directory_path() / ("kiln_disk_cache_test." + std::to_string(::getpid()) +
                                          "." + std::to_string(counter++)))
                .string();
    fs::remove_all(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::vector<fs::path> cache_files(const std::string& dir) {
  std::vector<fs::path> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path());
  return out;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Fused elementwise code, two kernel calls (matmul, reduce_sum) and a multi-result one (split):
// every way compiled code refers to something outside itself.
std::vector<Tensor> model(const Tensor& x, const Tensor& w) {
  Tensor h = exp(matmul(x, w) * 0.5f) + 1.0f;
  std::vector<Tensor> halves = split(h, 2, 1);
  return {reduce_sum(halves[0], std::vector<int64_t>{1}), halves[1] - 2.0f};
}

struct Inputs {
  Tensor x = compiler::testing::random_normal_tensor({3, 4}, 1, 1.f);
  Tensor w = compiler::testing::random_normal_tensor({4, 6}, 2, 0.5f);
};

// Calls `model` through a fresh kiln::function (an empty in-memory cache) using `dir`.
struct FreshRun {
  std::vector<Tensor> results;
  CacheStats stats;
};
FreshRun run_fresh(const std::string& dir, const Inputs& in) {
  auto f = function(model, {.name = "model", .cache_dir = dir});
  FreshRun r;
  r.results = f(in.x, in.w);
  r.stats = f.cache_stats();
  return r;
}

void expect_same(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].shape(), b[i].shape());
    EXPECT_EQ(a[i].to_vector<float>(), b[i].to_vector<float>()) << "result " << i;
  }
}

TEST(DiskCache, SecondFunctionLinksTheStoredObject) {
  TempDir dir;
  Inputs in;
  const std::vector<Tensor> eager = model(in.x, in.w);
  FreshRun first = run_fresh(dir.path(), in);
  EXPECT_EQ(first.stats.disk_misses, 1);
  EXPECT_EQ(first.stats.disk_writes, 1);
  EXPECT_EQ(first.stats.disk_hits, 0);
  ASSERT_EQ(cache_files(dir.path()).size(), 1u);
  EXPECT_EQ(cache_files(dir.path())[0].extension(), ".kobj");

  // Two live Executables from the same object in one process: symbols do not collide.
  auto f = function(model, {.name = "model", .cache_dir = dir.path()});
  std::vector<Tensor> second = f(in.x, in.w);
  EXPECT_EQ(f.cache_stats().disk_hits, 1);
  EXPECT_EQ(f.cache_stats().disk_misses, 0);
  EXPECT_EQ(f.cache_stats().disk_writes, 0);
  EXPECT_EQ(f.trace_count(), 1);  // the key needs the optimized IR: it still traces
  expect_same(first.results, second);
  ASSERT_EQ(eager.size(), second.size());
  for (size_t i = 0; i < eager.size(); ++i) {  // compiled exp differs from eager's in the last bit
    std::vector<float> a = eager[i].to_vector<float>(), b = second[i].to_vector<float>();
    ASSERT_EQ(a.size(), b.size());
    for (size_t j = 0; j < a.size(); ++j) EXPECT_NEAR(a[j], b[j], 1e-5f * (1 + std::abs(a[j])));
  }
  // Introspection works on a disk hit: the LLVM IR comes from the file.
  auto concrete = f.get_concrete_function(TensorSpec({3, 4}), TensorSpec({4, 6}));
  EXPECT_NE(concrete.llvm_ir().find("kiln.kernel_call.0"), std::string::npos);
  EXPECT_EQ(concrete.llvm_ir().find("inttoptr"), std::string::npos);
  EXPECT_EQ(concrete.asm_text().find("; error"), std::string::npos) << concrete.asm_text();
  EXPECT_NE(concrete.asm_text().find("kiln_model:"), std::string::npos);
  // A memory hit does not touch the disk.
  f(in.x, in.w);
  EXPECT_EQ(f.cache_stats().disk_hits, 1);
  EXPECT_EQ(f.cache_stats().hits, 1);
}

TEST(DiskCache, ConcurrentWritersOfOneKeyLeaveOneWholeFile) {
  TempDir dir;
  Inputs in;
  const std::vector<Tensor> expected = run_fresh("", in).results;
  std::vector<FreshRun> runs(4);
  std::vector<std::thread> threads;
  for (FreshRun& r : runs) {
    threads.emplace_back([&dir, &in, &r] { r = run_fresh(dir.path(), in); });
  }
  for (std::thread& t : threads) t.join();
  int64_t writes = 0;
  for (const FreshRun& r : runs) {
    expect_same(expected, r.results);
    EXPECT_EQ(r.stats.disk_hits + r.stats.disk_misses, 1);
    writes += r.stats.disk_writes;
  }
  EXPECT_GE(writes, 1);
  ASSERT_EQ(cache_files(dir.path()).size(), 1u);  // no temporary files left
  FreshRun after = run_fresh(dir.path(), in);
  EXPECT_EQ(after.stats.disk_hits, 1);
  expect_same(expected, after.results);
}

TEST(DiskCache, NewSignatureIsANewEntry) {
  TempDir dir;
  auto f = function([](const Tensor& x) { return x * 2.0f; }, {.cache_dir = dir.path()});
  f(ones({2, 3}));
  f(ones({4}));
  EXPECT_EQ(f.cache_stats().disk_writes, 2);
  EXPECT_EQ(cache_files(dir.path()).size(), 2u);
  auto g = function([](const Tensor& x) { return x * 2.0f; }, {.cache_dir = dir.path()});
  EXPECT_EQ(g(ones({4})).to_vector<float>(), std::vector<float>(4, 2.0f));
  EXPECT_EQ(g.cache_stats().disk_hits, 1);
  // Different code under the same name and signature is a different key.
  auto h = function([](const Tensor& x) { return x * 3.0f; }, {.cache_dir = dir.path()});
  EXPECT_EQ(h(ones({4})).to_vector<float>(), std::vector<float>(4, 3.0f));
  EXPECT_EQ(h.cache_stats().disk_hits, 0);
  EXPECT_EQ(h.cache_stats().disk_misses, 1);
}

// Damages the one cache file with `damage`, then checks that a fresh function recompiles
// (a disk miss), gets the right results, and replaces the file with a valid one.
template <typename Damage>
void check_damaged_entry_is_replaced(Damage damage, const char* what) {
  SCOPED_TRACE(what);
  TempDir dir;
  Inputs in;
  FreshRun first = run_fresh(dir.path(), in);
  ASSERT_EQ(cache_files(dir.path()).size(), 1u);
  const fs::path file = cache_files(dir.path())[0];
  const std::string good = read_file(file);
  write_file(file, damage(good));

  FreshRun second = run_fresh(dir.path(), in);
  EXPECT_EQ(second.stats.disk_hits, 0);
  EXPECT_EQ(second.stats.disk_misses, 1);
  EXPECT_EQ(second.stats.disk_writes, 1);
  expect_same(first.results, second.results);
  EXPECT_EQ(read_file(file), good);               // replaced: the same bytes as a clean compile
  ASSERT_EQ(cache_files(dir.path()).size(), 1u);  // no temporary file left behind

  FreshRun third = run_fresh(dir.path(), in);
  EXPECT_EQ(third.stats.disk_hits, 1);
  expect_same(first.results, third.results);
}

TEST(DiskCache, TruncatedEntryIsRecompiledAndReplaced) {
  check_damaged_entry_is_replaced([](std::string s) { return s.substr(0, s.size() / 2); }, "half");
  check_damaged_entry_is_replaced([](std::string s) { return s.substr(0, 20); }, "in header");
  check_damaged_entry_is_replaced([](std::string) { return std::string(); }, "empty");
  check_damaged_entry_is_replaced([](std::string s) { return s + "x"; }, "appended");
}

TEST(DiskCache, FlippedBytesAreRecompiledAndReplaced) {
  for (double where : {0.0, 0.1, 0.5, 0.9, 0.999}) {
    check_damaged_entry_is_replaced(
        [where](std::string s) {
          s[static_cast<size_t>(where * static_cast<double>(s.size()))] ^= 0x5a;
          return s;
        },
        std::to_string(where).c_str());
  }
  // A length field that claims more than the file holds.
  check_damaged_entry_is_replaced(
      [](std::string s) {
        s[16 + 7] = '\x7f';
        return s;
      },
      "length");
}

TEST(DiskCache, EntryForAnotherKeyIsRecompiledAndReplaced) {
  // A well-formed file (valid checksum) at this key's path whose key text differs.
  check_damaged_entry_is_replaced(
      [](std::string s) {
        const std::string key = "kiln compiled-code cache key\nsomething else";
        return compiler::disk_cache_encode(key, {"kiln_model", "not an object", ""});
      },
      "other key");
  // A foreign file.
  check_damaged_entry_is_replaced([](std::string) { return std::string(4096, '\x7f'); }, "foreign");
}

TEST(DiskCache, ValidFileWithAnUnlinkableObjectIsRecompiled) {
  TempDir dir;
  Inputs in;
  FreshRun first = run_fresh(dir.path(), in);
  const fs::path file = cache_files(dir.path())[0];
  const std::string good = read_file(file);
  // The right key with a checksum over garbage object bytes: only linking can reject it.
  auto f = function(model, {.name = "model", .cache_dir = dir.path()});
  const std::string key = good.substr(56, [&] {
    uint64_t n;
    std::memcpy(&n, good.data() + 16, 8);
    return n;
  }());
  write_file(file, compiler::disk_cache_encode(key, {"kiln_model", std::string(512, 'z'), ""}));
  expect_same(first.results, f(in.x, in.w));
  EXPECT_EQ(f.cache_stats().disk_hits, 0);
  EXPECT_EQ(f.cache_stats().disk_misses, 1);
  EXPECT_EQ(read_file(file), good);
}

TEST(DiskCache, ReadReportsWhyAnEntryIsInvalid) {
  TempDir dir;
  const std::string key = "kiln compiled-code cache key\ntest";
  compiler::DiskCacheEntry entry{"kiln_f", "object bytes", "llvm ir"};
  EXPECT_EQ(compiler::disk_cache_read(dir.path(), key).result, compiler::DiskCacheLookup::kAbsent);
  ASSERT_TRUE(compiler::disk_cache_write(dir.path(), key, entry));
  compiler::DiskCacheLookup found = compiler::disk_cache_read(dir.path(), key);
  ASSERT_EQ(found.result, compiler::DiskCacheLookup::kHit);
  EXPECT_EQ(found.entry.entry_symbol, "kiln_f");
  EXPECT_EQ(found.entry.object, "object bytes");
  EXPECT_EQ(found.entry.llvm_ir, "llvm ir");

  const std::string path = compiler::disk_cache_path(dir.path(), key);
  const std::string good = read_file(path);
  auto why = [&](const std::string& bytes) {
    write_file(path, bytes);
    compiler::DiskCacheLookup r = compiler::disk_cache_read(dir.path(), key);
    EXPECT_EQ(r.result, compiler::DiskCacheLookup::kInvalid);
    return r.why;
  };
  EXPECT_EQ(why(good.substr(0, 10)), "shorter than a header");
  std::string s = good;
  s[0] = 'X';
  EXPECT_EQ(why(s), "not a kiln cache file");
  s = good;
  s[8] = 9;
  EXPECT_EQ(why(s), "another format version");
  EXPECT_EQ(why(good.substr(0, good.size() - 1)), "lengths do not add up to the file size");
  s = good;
  s.back() ^= 1;
  EXPECT_EQ(why(s), "checksum mismatch");
  EXPECT_EQ(why(compiler::disk_cache_encode(key + "!", entry)), "written for another key");
}

TEST(DiskCache, KeyNamesEverythingTheCodeDependsOn) {
  compiler::CompileOptions options;
  const std::string base = compiler::disk_cache_key("ir text", "(f32[2])", options);
  for (const char* part : {"\nkiln ", "\nllvm 19.", "\ncpu ", "\nfeatures ", "\nopt 3",
                           "\nthreads ", "\nsignature (f32[2])", "\nir\nir text"}) {
    EXPECT_NE(base.find(part), std::string::npos) << part;
  }
  EXPECT_NE(compiler::disk_cache_key("ir text2", "(f32[2])", options), base);
  EXPECT_NE(compiler::disk_cache_key("ir text", "(f32[3])", options), base);
  compiler::CompileOptions o2 = options;
  o2.opt_level = 2;
  EXPECT_NE(compiler::disk_cache_key("ir text", "(f32[2])", o2), base);
  o2 = options;
  o2.cpu = "x86-64";
  EXPECT_NE(compiler::disk_cache_key("ir text", "(f32[2])", o2), base);
  const int threads = config::num_threads();
  config::set_num_threads(threads == 1 ? 2 : 1);
  EXPECT_NE(compiler::disk_cache_key("ir text", "(f32[2])", options), base);
  config::set_num_threads(threads);
  EXPECT_EQ(compiler::disk_cache_key("ir text", "(f32[2])", options), base);
  EXPECT_NE(compiler::disk_cache_path("/d", base),
            compiler::disk_cache_path("/d", compiler::disk_cache_key("x", "", options)));
}

TEST(DiskCache, UnwritableDirectoryWarnsOnceAndStillCompiles) {
  TempDir dir;
  fs::create_directories(dir.path());
  const std::string not_a_dir = dir.path() + "/file";
  write_file(not_a_dir, "x");
  const std::string cache = not_a_dir + "/cache";  // cannot be created: a file is in the way
  ::testing::internal::CaptureStderr();
  auto f = function([](const Tensor& x) { return x + 1.0f; }, {.cache_dir = cache});
  EXPECT_EQ(f(ones({2})).to_vector<float>(), std::vector<float>(2, 2.0f));
  EXPECT_EQ(f(ones({3})).to_vector<float>(), std::vector<float>(3, 2.0f));
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(f.cache_stats().disk_writes, 0);
  EXPECT_EQ(f.cache_stats().disk_misses, 2);
  EXPECT_EQ(f.cache_stats().traces, 2);
  const std::string warning = "kiln: warning: cannot write to the compiled-code cache directory";
  const size_t at = err.find(warning);
  ASSERT_NE(at, std::string::npos) << err;
  EXPECT_NE(err.find(cache), std::string::npos) << err;
  EXPECT_EQ(err.find(warning, at + 1), std::string::npos) << "warned twice: " << err;
}

TEST(DiskCache, EnvironmentVariableAndSwitch) {
  TempDir dir;
  ::setenv("KILN_CACHE_DIR", dir.path().c_str(), 1);
  auto f = function([](const Tensor& x) { return x - 1.0f; });
  f(ones({5}));
  EXPECT_EQ(f.cache_stats().disk_writes, 1);
  auto off = function([](const Tensor& x) { return x - 1.0f; }, {.disk_cache = false});
  off(ones({5}));
  EXPECT_EQ(off.cache_stats().disk_hits, 0);
  EXPECT_EQ(off.cache_stats().disk_misses, 0);
  auto on = function([](const Tensor& x) { return x - 1.0f; });
  on(ones({5}));
  EXPECT_EQ(on.cache_stats().disk_hits, 1);
  ::unsetenv("KILN_CACHE_DIR");
  auto unset = function([](const Tensor& x) { return x - 1.0f; });
  unset(ones({5}));
  EXPECT_EQ(unset.cache_stats().disk_misses, 0);
  EXPECT_EQ(unset.cache_stats().disk_hits, 0);
  EXPECT_EQ(cache_files(dir.path()).size(), 1u);
}

// --- The size bound of the cache directory -------------------------------------------------

// Stores an entry for `key` whose object is `object_bytes` long; returns its file's size.
int64_t store(const std::string& dir, const std::string& key, size_t object_bytes) {
  compiler::DiskCacheEntry entry{"kiln_f", std::string(object_bytes, 'o'), "ir"};
  EXPECT_TRUE(compiler::disk_cache_write(dir, key, entry));
  return static_cast<int64_t>(compiler::disk_cache_encode(key, entry).size());
}

void set_age(const std::string& path, int seconds) {
  fs::last_write_time(path, fs::file_time_type::clock::now() - std::chrono::seconds(seconds));
}

bool exists(const std::string& path) { return fs::exists(path); }

TEST(DiskCacheBound, TrimRemovesLeastRecentlyUsedAndAHitCountsAsAUse) {
  TempDir dir;
  const std::string& d = dir.path();
  const int64_t size = store(d, "key 1", 1000);
  ASSERT_EQ(store(d, "key 2", 1000), size);
  ASSERT_EQ(store(d, "key 3", 1000), size);
  const std::string p1 = compiler::disk_cache_path(d, "key 1");
  const std::string p2 = compiler::disk_cache_path(d, "key 2");
  const std::string p3 = compiler::disk_cache_path(d, "key 3");
  set_age(p1, 300);  // written first ...
  set_age(p2, 200);
  set_age(p3, 100);
  // ... but read last: a hit makes it the most recently used.
  ASSERT_EQ(compiler::disk_cache_read(d, "key 1").result, compiler::DiskCacheLookup::kHit);
  ASSERT_EQ(store(d, "key 4", 1000), size);
  const std::string p4 = compiler::disk_cache_path(d, "key 4");

  // Under or at the bound nothing goes.
  EXPECT_EQ(compiler::disk_cache_trim(d, 4 * size, p4), 0);
  EXPECT_EQ(cache_files(d).size(), 4u);
  // One over: the least recently used (key 2) goes.
  EXPECT_EQ(compiler::disk_cache_trim(d, 4 * size - 1, p4), 1);
  EXPECT_FALSE(exists(p2));
  EXPECT_TRUE(exists(p1) && exists(p3) && exists(p4));
  // Room for two: key 3 (used 100 s ago) goes before key 1 (read just now).
  EXPECT_EQ(compiler::disk_cache_trim(d, 2 * size, p4), 1);
  EXPECT_FALSE(exists(p3));
  EXPECT_TRUE(exists(p1) && exists(p4));
  EXPECT_EQ(compiler::disk_cache_read(d, "key 4").result, compiler::DiskCacheLookup::kHit);
}

TEST(DiskCacheBound, TheEntryJustWrittenStaysEvenIfAloneOverTheBound) {
  TempDir dir;
  const std::string& d = dir.path();
  store(d, "old", 10);
  set_age(compiler::disk_cache_path(d, "old"), 60);
  store(d, "big", 5000);
  const std::string big = compiler::disk_cache_path(d, "big");
  EXPECT_EQ(compiler::disk_cache_trim(d, 1, big), 1);
  ASSERT_EQ(cache_files(d).size(), 1u);
  EXPECT_EQ(cache_files(d)[0].string(), big);
  EXPECT_EQ(compiler::disk_cache_trim(d, 1, big), 0);
  EXPECT_TRUE(exists(big));
}

TEST(DiskCacheBound, ForeignFilesAreNeverRemovedButStaleTemporaryFilesAre) {
  TempDir dir;
  const std::string& d = dir.path();
  const int64_t size = store(d, "mine", 100);
  const std::string mine = compiler::disk_cache_path(d, "mine");
  const std::string digest = fs::path(mine).stem().string();
  ASSERT_EQ(digest.size(), 32u);
  std::string upper = digest;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const std::vector<std::string> foreign = {
      "notes.txt",
      upper + ".kobj",             // not kiln's lower-case digest
      digest + ".kobj.bak",        // a copy someone made
      digest.substr(1) + ".kobj",  // 31 digits
      digest + ".kobj.tmp.12.x",   // not a temporary name kiln writes
      "x" + digest.substr(1) + ".kobj.tmp.1.2",
  };
  for (const std::string& name : foreign) {
    write_file(d + "/" + name, std::string(4096, 'f'));
    set_age(d + "/" + name, 3600);
  }
  const std::string subdir = d + "/ffffffffffffffffffffffffffffffff.kobj";
  fs::create_directories(subdir);  // named like an entry, but a directory: left alone
  const std::string stale = mine + ".tmp.4242.7";
  const std::string fresh = mine + ".tmp.4242.8";
  write_file(stale, "half a file");
  set_age(stale, int(compiler::kDiskCacheStaleTempSeconds) + 60);
  write_file(fresh, "being written");

  const int64_t newer_size = store(d, "newer", 100);
  const std::string newer = compiler::disk_cache_path(d, "newer");
  // Foreign files do not count towards the bound: the two entries fit.
  EXPECT_EQ(compiler::disk_cache_trim(d, size + newer_size, newer), 0);
  EXPECT_FALSE(exists(stale));
  EXPECT_TRUE(exists(fresh));
  EXPECT_TRUE(exists(mine));
  // Over the bound only kiln's entry goes.
  EXPECT_EQ(compiler::disk_cache_trim(d, 1, newer), 1);
  EXPECT_FALSE(exists(mine));
  EXPECT_TRUE(exists(newer));
  EXPECT_TRUE(exists(fresh));
  for (const std::string& name : foreign) EXPECT_TRUE(exists(d + "/" + name)) << name;
  EXPECT_TRUE(fs::is_directory(subdir));
}

TEST(DiskCacheBound, EntryAndTemporaryNames) {
  const std::string hex = "0123456789abcdef0123456789abcdef";
  EXPECT_TRUE(compiler::disk_cache_is_entry_name(hex + ".kobj"));
  EXPECT_FALSE(compiler::disk_cache_is_entry_name(hex + ".kob"));
  EXPECT_FALSE(compiler::disk_cache_is_entry_name(hex + "0.kobj"));
  EXPECT_FALSE(compiler::disk_cache_is_entry_name("0123456789abcdeg0123456789abcdef.kobj"));
  EXPECT_TRUE(compiler::disk_cache_is_temp_name(hex + ".kobj.tmp.123.45"));
  EXPECT_FALSE(compiler::disk_cache_is_temp_name(hex + ".kobj.tmp.123"));
  EXPECT_FALSE(compiler::disk_cache_is_temp_name(hex + ".kobj.tmp..45"));
  EXPECT_FALSE(compiler::disk_cache_is_temp_name(hex + ".kobj.tmp.1.2.3"));
  EXPECT_FALSE(compiler::disk_cache_is_temp_name(hex + ".kobj"));
  EXPECT_FALSE(compiler::disk_cache_is_entry_name(hex + ".kobj.tmp.1.2"));
}

TEST(DiskCacheBound, ConcurrentTrimsOfOneDirectoryCountEachRemovalOnce) {
  TempDir dir;
  const std::string& d = dir.path();
  constexpr int kEntries = 40;
  for (int i = 0; i < kEntries; ++i) store(d, "entry " + std::to_string(i), 64);
  const std::string keep = compiler::disk_cache_path(d, "entry 0");
  std::atomic<int64_t> removed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] { removed += compiler::disk_cache_trim(d, 1, keep); });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(removed.load(), kEntries - 1);
  ASSERT_EQ(cache_files(d).size(), 1u);
  EXPECT_EQ(cache_files(d)[0].string(), keep);
}

TEST(DiskCacheBound, FunctionTrimsAfterEachWriteAndCountsEvictions) {
  TempDir dir;
  auto add = [](const Tensor& x) { return x + 3.0f; };
  auto f = function(add, {.cache_dir = dir.path(), .disk_cache_max_bytes = 1});
  f(ones({2}));
  EXPECT_EQ(f.cache_stats().disk_writes, 1);
  EXPECT_EQ(f.cache_stats().disk_evictions, 0);  // alone over the bound, and kept
  EXPECT_EQ(cache_files(dir.path()).size(), 1u);
  f(ones({3}));
  f(ones({4}));
  EXPECT_EQ(f.cache_stats().disk_writes, 3);
  EXPECT_EQ(f.cache_stats().disk_evictions, 2);
  EXPECT_EQ(cache_files(dir.path()).size(), 1u);
  // The survivor is the newest specialization's.
  auto g = function(add, {.cache_dir = dir.path(), .disk_cache_max_bytes = 1});
  EXPECT_EQ(g(ones({4})).to_vector<float>(), std::vector<float>(4, 4.0f));
  EXPECT_EQ(g.cache_stats().disk_hits, 1);
  g(ones({2}));
  EXPECT_EQ(g.cache_stats().disk_misses, 1);

  // A roomy bound keeps everything.
  TempDir roomy;
  auto h = function(add, {.cache_dir = roomy.path(), .disk_cache_max_bytes = int64_t{1} << 20});
  h(ones({2}));
  h(ones({3}));
  h(ones({4}));
  EXPECT_EQ(h.cache_stats().disk_evictions, 0);
  EXPECT_EQ(cache_files(roomy.path()).size(), 3u);
}

TEST(DiskCacheBound, ParsesTheEnvironmentValue) {
  std::string error;
  EXPECT_EQ(compiler::disk_cache_parse_max_bytes(nullptr, &error), int64_t{1} << 30);
  EXPECT_EQ(compiler::disk_cache_parse_max_bytes("", &error), int64_t{1} << 30);
  EXPECT_EQ(compiler::disk_cache_parse_max_bytes("4096", &error), 4096);
  EXPECT_EQ(compiler::disk_cache_parse_max_bytes("9223372036854775807", &error),
            int64_t{9223372036854775807});
  EXPECT_EQ(error, "");
  for (const char* bad : {"0", "-5", "abc", "12k", " 12", "+12", "1e9", "99999999999999999999"}) {
    error.clear();
    EXPECT_EQ(compiler::disk_cache_parse_max_bytes(bad, &error), int64_t{1} << 30) << bad;
    EXPECT_EQ(error, std::string("KILN_CACHE_MAX_BYTES=\"") + bad +
                         "\" is not a positive whole number of bytes; the on-disk cache is "
                         "bounded by the default, 1073741824 bytes (1 GiB)");
  }
}

TEST(DiskCacheBound, BadEnvironmentValueWarnsOnceAndUsesTheDefault) {
  TempDir dir;
  auto add = [](const Tensor& x) { return x * 2.0f; };
  ::setenv("KILN_CACHE_MAX_BYTES", "-1", 1);
  ::testing::internal::CaptureStderr();
  auto f = function(add, {.cache_dir = dir.path()});
  f(ones({2}));
  f(ones({3}));
  auto g = function(add, {.cache_dir = dir.path()});
  g(ones({4}));
  const std::string err = ::testing::internal::GetCapturedStderr();
  const std::string warning =
      "kiln: warning: KILN_CACHE_MAX_BYTES=\"-1\" is not a positive whole number of bytes; the "
      "on-disk cache is bounded by the default, 1073741824 bytes (1 GiB)\n";
  const size_t at = err.find(warning);
  EXPECT_NE(at, std::string::npos) << err;
  EXPECT_EQ(err.find(warning, at + 1), std::string::npos) << "warned twice: " << err;
  EXPECT_EQ(f.cache_stats().disk_evictions + g.cache_stats().disk_evictions, 0);
  EXPECT_EQ(cache_files(dir.path()).size(), 3u);

  // A valid value bounds the directory; an explicit option overrides it.
  ::setenv("KILN_CACHE_MAX_BYTES", "1", 1);
  auto h = function(add, {.cache_dir = dir.path()});
  h(ones({5}));
  EXPECT_EQ(h.cache_stats().disk_evictions, 3);
  EXPECT_EQ(cache_files(dir.path()).size(), 1u);
  auto k = function(add, {.cache_dir = dir.path(), .disk_cache_max_bytes = int64_t{1} << 20});
  k(ones({6}));
  EXPECT_EQ(k.cache_stats().disk_evictions, 0);
  EXPECT_EQ(cache_files(dir.path()).size(), 2u);
  ::unsetenv("KILN_CACHE_MAX_BYTES");
}

TEST(DiskCacheBound, NegativeOptionIsInvalid) {
  auto identity = [](const Tensor& x) { return x; };
  EXPECT_EQ(
      invalid_argument_of([&] { function(identity, {.name = "f", .disk_cache_max_bytes = -1}); }),
      "f: disk_cache_max_bytes (-1) must be >= 0 (0 = KILN_CACHE_MAX_BYTES or 1 GiB)");
}

TEST(CacheBytes, CountsEachEntryAndEvictsByBytes) {
  auto f = function([](const Tensor& x) { return exp(x) * 2.0f; }, {.max_cache_bytes = 0});
  EXPECT_EQ(f.cache_stats().bytes, 0);
  f(ones({4}));
  const int64_t one = f.cache_stats().bytes;
  auto concrete = f.get_concrete_function(TensorSpec({4}));
  // At least the IR texts and the LLVM IR kept for introspection, plus an object.
  EXPECT_GT(one, static_cast<int64_t>(concrete.ir().size() + concrete.traced_ir().size() +
                                      concrete.llvm_ir().size()));
  f(ones({8}));
  f(ones({16}));
  const int64_t three = f.cache_stats().bytes;
  EXPECT_GT(three, 2 * one);
  EXPECT_EQ(f.cache_stats().evictions, 0);

  // Room for about one and a half entries: each new signature evicts the least recently used.
  auto g =
      function([](const Tensor& x) { return exp(x) * 2.0f; }, {.max_cache_bytes = one + one / 2});
  g(ones({4}));
  EXPECT_EQ(g.cache_stats().entries, 1);
  g(ones({8}));
  EXPECT_EQ(g.cache_stats().entries, 1);
  EXPECT_EQ(g.cache_stats().evictions, 1);
  EXPECT_LE(g.cache_stats().bytes, one + one / 2);
  g(ones({8}));  // still cached
  EXPECT_EQ(g.cache_stats().traces, 2);
  g(ones({4}));  // was evicted
  EXPECT_EQ(g.cache_stats().traces, 3);
  EXPECT_EQ(g.cache_stats().evictions, 2);
  EXPECT_EQ(g.cache_stats().entries, 1);

  // An entry larger than the bound alone stays (else every call would retrace).
  auto h = function([](const Tensor& x) { return exp(x) * 2.0f; }, {.max_cache_bytes = 1});
  h(ones({4}));
  h(ones({4}));
  EXPECT_EQ(h.cache_stats().traces, 1);
  EXPECT_EQ(h.cache_stats().entries, 1);
  h(ones({8}));
  EXPECT_EQ(h.cache_stats().entries, 1);
  EXPECT_EQ(h.cache_stats().evictions, 1);
}

TEST(CacheBytes, NegativeBoundsAreInvalid) {
  auto identity = [](const Tensor& x) { return x; };
  EXPECT_EQ(invalid_argument_of([&] { function(identity, {.name = "f", .max_cache_bytes = -1}); }),
            "f: max_cache_entries (64) and max_cache_bytes (-1) must be >= 0 (0 = unbounded)");
  EXPECT_EQ(
      invalid_argument_of([&] { function(identity, {.name = "g", .max_cache_entries = -2}); }),
      "g: max_cache_entries (-2) and max_cache_bytes (268435456) must be >= 0 (0 = unbounded)");
}

}  // namespace
}  // namespace kiln
