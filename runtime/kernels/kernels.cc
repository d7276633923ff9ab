// kiln — eager-kernel dispatch (the op table's kernel face) and the tensor buffer allocator.
#include "runtime/kernels/kernels.h"

#include <sys/mman.h>
#if defined(__F16C__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <vector>

#include "runtime/kernels/kernels_internal.h"
#include "support/half.h"
#include "support/status.h"
#include "support/str.h"

namespace kiln::kernels {
namespace internal {

absl::Status dtype_error(std::string_view op, int index, DType want, DType got) {
  return ir::dtype_mismatch_error(op, index, want, got);
}

absl::Status unsupported_dtype(std::string_view op, int index, DType got,
                               std::string_view allowed) {
  return ir::unsupported_dtype_error(op, index, got, allowed);
}

bool needs_float32(ir::OpKind kind, std::span<const View> in, std::span<const MutableView> out) {
  switch (kind) {
    case ir::OpKind::kSelect:
    case ir::OpKind::kBroadcast:
    case ir::OpKind::kStridedSlice:
    case ir::OpKind::kStridedUpdate:
    case ir::OpKind::kTranspose:
    case ir::OpKind::kReshape:
    case ir::OpKind::kExpandDims:
    case ir::OpKind::kSqueeze:
    case ir::OpKind::kConcat:
    case ir::OpKind::kTile:
    case ir::OpKind::kGather:
    case ir::OpKind::kSplit:
      return false;
    default:
      break;
  }
  for (const View& v : in) {
    if (is_half(v.dtype)) return true;
  }
  for (const MutableView& v : out) {
    if (is_half(v.dtype)) return true;
  }
  return false;
}

namespace {

// float16 <-> float32 use the F16C instructions where the build has them (8 at a time; round
// to nearest even, as Half), the portable conversions of support/half.h otherwise.
void half_to_float(const void* src, DType dtype, int64_t n, float* dst) {
  if (dtype == DType::kFloat16) {
    const auto* h = static_cast<const Half*>(src);
    int64_t i = 0;
#if defined(__F16C__)
    for (; i + 8 <= n; i += 8) {
      const __m128i bits = _mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i));
      _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(bits));
    }
#endif
    for (; i < n; ++i) dst[i] = h[i].to_float();
  } else {
    const auto* h = static_cast<const BFloat16*>(src);
    for (int64_t i = 0; i < n; ++i) dst[i] = h[i].to_float();
  }
}

void float_to_half(const float* src, DType dtype, int64_t n, void* dst) {
  if (dtype == DType::kFloat16) {
    auto* h = static_cast<Half*>(dst);
    int64_t i = 0;
#if defined(__F16C__)
    for (; i + 8 <= n; i += 8) {
      const __m128i bits = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(h + i), bits);
    }
#endif
    for (; i < n; ++i) h[i] = Half(src[i]);
  } else {
    auto* h = static_cast<BFloat16*>(dst);
    for (int64_t i = 0; i < n; ++i) h[i] = BFloat16(src[i]);
  }
}

struct FloatBuffer {
  explicit FloatBuffer(int64_t n) : p(static_cast<float*>(allocate(std::max<int64_t>(n, 1) * 4))) {}
  ~FloatBuffer() { deallocate(p); }
  FloatBuffer(const FloatBuffer&) = delete;
  FloatBuffer& operator=(const FloatBuffer&) = delete;
  float* p;
};

}  // namespace

absl::Status run_in_float32(ir::OpKind kind, const ir::Attrs& attrs, std::span<const View> in,
                            std::span<const MutableView> out,
                            absl::FunctionRef<absl::Status(const ir::Attrs&, std::span<const View>,
                                                           std::span<const MutableView>)>
                                inner) {
  const std::string_view op = ir::mnemonic(kind);
  std::vector<ir::Type> types;
  for (const View& v : in) types.push_back(ir::Type{v.dtype, *v.shape});
  KILN_ASSIGN_OR_RETURN(std::vector<ir::Type> want, ir::infer_types(kind, types, attrs));
  if (want.size() != out.size()) {
    return absl::InvalidArgumentError(
        cat(op, ": expected ", want.size(), " outputs but got ", out.size()));
  }
  for (size_t i = 0; i < out.size(); ++i) {
    if (!(ir::Type{out[i].dtype, *out[i].shape} == want[i])) {
      return absl::InvalidArgumentError(cat(op, ": output #", i, " is ",
                                            ir::Type{out[i].dtype, *out[i].shape},
                                            " but should be ", want[i]));
    }
  }
  std::vector<std::unique_ptr<FloatBuffer>> buffers;
  std::vector<View> in32(in.begin(), in.end());
  for (View& v : in32) {
    if (!is_half(v.dtype)) continue;
    const int64_t n = v.shape->num_elements();
    buffers.push_back(std::make_unique<FloatBuffer>(n));
    half_to_float(v.data, v.dtype, n, buffers.back()->p);
    v = View{buffers.back()->p, DType::kFloat32, v.shape};
  }
  std::vector<MutableView> out32(out.begin(), out.end());
  std::vector<const FloatBuffer*> out_buffers(out.size(), nullptr);
  for (size_t i = 0; i < out32.size(); ++i) {
    if (!is_half(out32[i].dtype)) continue;
    buffers.push_back(std::make_unique<FloatBuffer>(out32[i].shape->num_elements()));
    out_buffers[i] = buffers.back().get();
    out32[i] = MutableView{buffers.back()->p, DType::kFloat32, out32[i].shape};
  }
  ir::Attrs attrs32 = attrs;
  if (auto it = attrs32.find("dtype"); it != attrs32.end()) {
    if (const auto* name = std::get_if<std::string>(&it->second)) {
      const auto d = dtype_from_ir_name(*name);
      if (d && is_half(*d)) it->second = std::string(dtype_ir_name(DType::kFloat32));
    }
  }
  KILN_RETURN_IF_ERROR(inner(attrs32, in32, out32));
  for (size_t i = 0; i < out.size(); ++i) {
    if (out_buffers[i] == nullptr) continue;
    float_to_half(out_buffers[i]->p, out[i].dtype, out[i].shape->num_elements(), out[i].data);
  }
  return absl::OkStatus();
}

}  // namespace internal

namespace {

absl::Status check_view(std::string_view op, std::string_view what, int index, const void* data,
                        const Shape* shape) {
  if (shape == nullptr) {
    return absl::InvalidArgumentError(cat(op, ": ", what, " #", index, " has no shape"));
  }
  const int64_t n = shape->num_elements();
  if (n < 0) {
    return absl::InvalidArgumentError(
        cat(op, ": ", what, " #", index, " has a shape that is not fully defined: ", *shape));
  }
  if (n > 0 && data == nullptr) {
    return absl::InvalidArgumentError(cat(op, ": ", what, " #", index, " has no data"));
  }
  return absl::OkStatus();
}

absl::Status run_checked(ir::OpKind kind, const ir::Attrs& attrs, std::span<const View> in,
                         const MutableView& out) {
  const ir::OpInfo& info = ir::op_info(kind);
  switch (info.cls) {
    case ir::OpClass::kConstant:
    case ir::OpClass::kFusion:
    case ir::OpClass::kControl:
    case ir::OpClass::kTerminator:
      return absl::UnimplementedError(cat(info.mnemonic, ": op has no eager kernel"));
    default:
      break;
  }
  if (info.arity >= 0 && static_cast<int>(in.size()) != info.arity) {
    return absl::InvalidArgumentError(
        cat(info.mnemonic, ": expected ", info.arity, " input(s) but got ", in.size()));
  }
  for (size_t i = 0; i < in.size(); ++i) {
    if (absl::Status s =
            check_view(info.mnemonic, "input", static_cast<int>(i), in[i].data, in[i].shape);
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = check_view(info.mnemonic, "output", 0, out.data, out.shape); !s.ok()) {
    return s;
  }
  if (internal::needs_float32(kind, in, {&out, 1})) {
    return internal::run_in_float32(
        kind, attrs, in, {&out, 1},
        [&](const ir::Attrs& a, std::span<const View> in32, std::span<const MutableView> out32) {
          return run_checked(kind, a, in32, out32[0]);
        });
  }
  if (internal::is_math_op(kind)) return internal::run_math(kind, attrs, in, out);
  switch (info.cls) {
    case ir::OpClass::kUnary:
    case ir::OpClass::kUnaryFloat:
      return internal::run_unary(kind, in[0], out);
    case ir::OpClass::kBinary:
    case ir::OpClass::kCompare:
      return internal::run_binary(kind, in[0], in[1], out);
    case ir::OpClass::kSelect:
      return internal::run_select(in[0], in[1], in[2], out);
    case ir::OpClass::kBroadcast:
      return internal::run_broadcast(in[0], out);
    case ir::OpClass::kReduce:
      return internal::run_reduce(kind, attrs, in[0], out);
    case ir::OpClass::kMatmul:
      if (in[0].dtype == DType::kFloat64 || in[0].dtype == DType::kInt64) {
        return internal::run_matmul_wide(attrs, in[0], in[1], out);
      }
      return internal::run_matmul(attrs, in[0], in[1], out);
    case ir::OpClass::kArray:
      return internal::run_array(kind, attrs, in, out);
    case ir::OpClass::kStridedSlice:
      if (kind == ir::OpKind::kStridedUpdate) {
        return internal::run_strided_update(attrs, in[0], in[1], out);
      }
      return internal::run_strided_slice(attrs, in[0], out);
    default:
      break;
  }
  return absl::UnimplementedError(cat(info.mnemonic, ": op has no eager kernel"));
}

// ---- Allocation ----------------------------------------------------------------------------
//
// Every buffer is preceded by a 64-byte header recording how it was obtained, so deallocate
// needs no size. Three paths by rounded size:
//   < 64 KiB      aligned_alloc, freed immediately;
//   < 4 MiB       aligned_alloc, recycled through the thread-local cache;
//   >= 4 MiB      mmap'ed with transparent huge pages (first touch faults once per 2 MiB instead
//                 of once per 4 KiB: ~4x cheaper on this VM), recycled through the cache.
// The cache keeps freed buffers >= 64 KiB by size class (8 classes per power of two), up to
// kCacheSlots buffers and kCacheBytes bytes per thread, evicting the oldest first.
// Blocks up to kSmallMax also come back through per-thread free lists (kSmallKeepOf per size
// class): small tensors are the common case of eager dispatch, and aligned_alloc costs more than
// the op itself there.

constexpr size_t kAlign = 64;
constexpr size_t kHeader = 64;
constexpr size_t kCacheMin = size_t{64} << 10;
constexpr size_t kHugeMin = size_t{4} << 20;
constexpr size_t kHugePage = size_t{2} << 20;
constexpr int kCacheSlots = 64;
constexpr size_t kCacheBytes = size_t{512} << 20;
constexpr size_t kSmallMax = 4096;
// Each size class keeps up to kSmallKeepBytes of blocks (at least kSmallKeep, at most
// kSmallKeepMax blocks): enough for a GradientTape holding a few dozen small results alive.
constexpr int kSmallKeep = 32;
constexpr int kSmallKeepMax = 256;
constexpr size_t kSmallKeepBytes = size_t{64} << 10;
// The number of blocks kept per size class (class i holds blocks of (i + 1) * kAlign bytes).
constexpr auto kSmallKeepOf = [] {
  std::array<int, kSmallMax / kAlign> keep{};
  for (size_t i = 0; i < keep.size(); ++i) {
    const size_t by_bytes = kSmallKeepBytes / ((i + 1) * kAlign);
    keep[i] = static_cast<int>(std::clamp<size_t>(by_bytes, kSmallKeep, kSmallKeepMax));
  }
  return keep;
}();
constexpr uint64_t kMagic = 0x6b696c6e62756621;        // "kilnbuf!": live
constexpr uint64_t kCachedMagic = 0x6b696c6e63616368;  // "kilncach": parked in a cache

struct Header {
  uint64_t magic;
  size_t capacity;  // payload bytes (the size class)
  size_t map_len;   // mmap length, 0 for aligned_alloc blocks
};
static_assert(sizeof(Header) <= kHeader);

size_t round_up(size_t n, size_t m) { return (n + m - 1) / m * m; }

// The size class of a request: multiples of 64 below kCacheMin, above it 8 classes per octave.
size_t size_class(size_t bytes) {
  if (bytes < kCacheMin) return round_up(bytes == 0 ? 1 : bytes, kAlign);
  const int log2 = 63 - __builtin_clzll(bytes);
  const size_t step = (size_t{1} << log2) / 8;
  return round_up(bytes, step);
}

Header* header_of(void* payload) {
  return reinterpret_cast<Header*>(static_cast<char*>(payload) - kHeader);
}

void* fresh_block(size_t capacity) {
  if (capacity >= kHugeMin) {
    const size_t len = round_up(capacity + kHeader, kHugePage);
    // Over-map by one huge page so a 2 MiB-aligned start can be carved out, then trim.
    void* raw =
        mmap(nullptr, len + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) throw std::bad_alloc();
    const uintptr_t start = reinterpret_cast<uintptr_t>(raw);
    const uintptr_t aligned = round_up(start, kHugePage);
    if (aligned > start) munmap(raw, aligned - start);
    const uintptr_t tail = aligned + len, end = start + len + kHugePage;
    if (end > tail) munmap(reinterpret_cast<void*>(tail), end - tail);
    char* base = reinterpret_cast<char*>(aligned);
    madvise(base, len, MADV_HUGEPAGE);  // best effort
    auto* h = reinterpret_cast<Header*>(base);
    *h = Header{kMagic, capacity, len};
    return base + kHeader;
  }
  void* raw = std::aligned_alloc(kAlign, capacity + kHeader);
  if (raw == nullptr) throw std::bad_alloc();
  auto* h = static_cast<Header*>(raw);
  *h = Header{kMagic, capacity, 0};
  return static_cast<char*>(raw) + kHeader;
}

void release_block(void* payload) {
  Header* h = header_of(payload);
  h->magic = 0;
  if (h->map_len != 0) {
    munmap(h, h->map_len);
  } else {
    std::free(h);
  }
}

// Trivially destructible, so it stays usable while other thread_locals and statics are being
// destroyed; Reaper (below) empties it when the thread exits and marks it dead.
struct Cache {
  struct Slot {
    size_t capacity;
    void* payload;
  };
  Slot slots[kCacheSlots];  // oldest first
  int count;
  size_t bytes;
  bool dead;
};
thread_local Cache t_cache;

// Per-thread free lists of small blocks, one per 64-byte size class; the link lives in the
// payload. Trivially destructible, emptied by Reaper like Cache.
struct SmallCache {
  void* head[kSmallMax / kAlign];
  int count[kSmallMax / kAlign];
};
thread_local SmallCache t_small;

void evict_oldest(Cache& c) {
  release_block(c.slots[0].payload);
  c.bytes -= c.slots[0].capacity;
  std::memmove(&c.slots[0], &c.slots[1], sizeof(Cache::Slot) * (c.count - 1));
  --c.count;
}

struct Reaper {
  ~Reaper() {
    while (t_cache.count > 0) evict_oldest(t_cache);
    for (int i = 0; i < static_cast<int>(kSmallMax / kAlign); ++i) {
      while (void* p = t_small.head[i]) {
        t_small.head[i] = *static_cast<void**>(p);
        release_block(p);
      }
      t_small.count[i] = 0;
    }
    t_cache.dead = true;
  }
};

void ensure_reaper() {
  static thread_local Reaper reaper;  // constructed on first use, runs at thread exit
  (void)reaper;
}

void* take_small(size_t capacity) {
  const size_t i = capacity / kAlign - 1;
  void* p = t_small.head[i];
  if (p == nullptr) return nullptr;
  t_small.head[i] = *static_cast<void**>(p);
  --t_small.count[i];
  header_of(p)->magic = kMagic;
  return p;
}

bool put_small(void* payload, size_t capacity) {
  const size_t i = capacity / kAlign - 1;
  if (t_cache.dead || t_small.count[i] >= kSmallKeepOf[i]) return false;
  ensure_reaper();
  header_of(payload)->magic = kCachedMagic;
  *static_cast<void**>(payload) = t_small.head[i];
  t_small.head[i] = payload;
  ++t_small.count[i];
  return true;
}

void* take_cached(size_t capacity) {
  Cache& c = t_cache;
  for (int i = c.count - 1; i >= 0; --i) {  // most recent first: likely still in cache
    if (c.slots[i].capacity == capacity) {
      void* p = c.slots[i].payload;
      header_of(p)->magic = kMagic;
      std::memmove(&c.slots[i], &c.slots[i + 1], sizeof(Cache::Slot) * (c.count - 1 - i));
      --c.count;
      c.bytes -= capacity;
      return p;
    }
  }
  return nullptr;
}

// Keeps `payload` for reuse; false if the cache is gone or the block is too large to keep.
bool put_cached(void* payload, size_t capacity) {
  Cache& c = t_cache;
  if (c.dead || capacity > kCacheBytes / 2) return false;
  ensure_reaper();
  while (c.count > 0 && (c.count == kCacheSlots || c.bytes + capacity > kCacheBytes)) {
    evict_oldest(c);
  }
  header_of(payload)->magic = kCachedMagic;
  c.slots[c.count++] = Cache::Slot{capacity, payload};
  c.bytes += capacity;
  return true;
}

}  // namespace

absl::Status run(ir::OpKind kind, const ir::Attrs& attrs, std::span<const View> inputs,
                 const MutableView& output) {
  try {
    return run_checked(kind, attrs, inputs, output);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(cat(ir::mnemonic(kind), ": out of memory"));
  } catch (const std::exception& e) {
    return absl::InternalError(cat(ir::mnemonic(kind), ": ", e.what()));
  } catch (...) {
    return absl::InternalError(cat(ir::mnemonic(kind), ": unknown exception"));
  }
}

void* allocate(int64_t bytes) {
  if (bytes < 0) throw std::bad_alloc();
  const size_t capacity = size_class(static_cast<size_t>(bytes));
  if (capacity <= kSmallMax && !t_cache.dead) {
    if (void* p = take_small(capacity)) return p;
  }
  if (capacity >= kCacheMin && !t_cache.dead) {
    if (void* p = take_cached(capacity)) return p;
  }
  return fresh_block(capacity);
}

void deallocate(void* ptr) {
  if (ptr == nullptr) return;
  Header* h = header_of(ptr);
  if (h->magic != kMagic) std::abort();  // not ours, or freed twice
  if (h->capacity <= kSmallMax && put_small(ptr, h->capacity)) return;
  if (h->capacity >= kCacheMin && put_cached(ptr, h->capacity)) return;
  release_block(ptr);
}

}  // namespace kiln::kernels
