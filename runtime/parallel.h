// kiln — the process-wide thread pool that large eager kernels split their work over.
#pragma once

#include <cstdint>
#include <functional>

namespace kiln {
namespace config {

// Threads large eager kernels may use (the caller counts as one). Defaults to the environment
// variable KILN_NUM_THREADS when it holds a positive integer, else to the hardware's thread count.
// Throws InvalidArgumentError unless 1 <= n <= 1024. Waits for running parallel work to finish.
void set_num_threads(int n);
int num_threads();

}  // namespace config

namespace internal {

// Runs `fn(begin, end)` over disjoint chunks covering [0, n), on the pool's threads and the
// caller, and returns when all are done. There are at most num_threads() chunks of equal size,
// at least `grain` items each (the last may be shorter), starting at multiples of `align`; so a
// range below 2 * grain runs on the caller alone (no wakeup). The chunks and which thread runs them
// depend on the thread count, so `fn` must give the same result however the range is cut
// (elementwise work does). If `fn` throws, chunks not yet started are skipped and the first
// exception is rethrown to the caller once running chunks have finished. Nested calls, and calls
// while another thread uses the pool, run on the caller alone.
void parallel_for(int64_t n, int64_t grain, int64_t align,
                  const std::function<void(int64_t, int64_t)>& fn);

// How many chunks parallel_for(n, grain, align, ...) would use at the current thread count.
int64_t parallel_chunks(int64_t n, int64_t grain, int64_t align);

}  // namespace internal
}  // namespace kiln

// The entry compiled code splits loops with: runs fn(begin, end, ctx) over chunks covering
// [0, n) as internal::parallel_for(n, grain, align, ...) does. `fn` must not throw.
extern "C" void kiln_rt_parallel_for(void (*fn)(int64_t, int64_t, void*), void* ctx, int64_t n,
                                     int64_t grain, int64_t align) noexcept;
