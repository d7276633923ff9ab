// kiln — the process-wide thread pool: workers sleep on a condition variable between jobs; the
// caller takes chunks too and leaves once every worker that joined the job has finished.
#include "runtime/parallel.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/error.h"
#include "support/str.h"

namespace kiln {
namespace {

constexpr int kMaxThreads = 1024;

int default_threads() {
  if (const char* env = std::getenv("KILN_NUM_THREADS"); env != nullptr && *env != '\0') {
    char* end = nullptr;
    const long v = std::strtol(env, &end, 10);
    if (*end == '\0' && v >= 1 && v <= kMaxThreads) return static_cast<int>(v);
    std::fprintf(stderr, "kiln: ignoring KILN_NUM_THREADS=%s (expected an integer in 1..%d)\n", env,
                 kMaxThreads);
  }
  return static_cast<int>(std::clamp<unsigned>(std::thread::hardware_concurrency(), 1u,
                                               static_cast<unsigned>(kMaxThreads)));
}

thread_local bool in_pool_job = false;

class Pool {
 public:
  static Pool& get() {
    static Pool* pool = new Pool();  // never destroyed: workers may outlive static destructors
    return *pool;
  }

  int threads() const { return threads_.load(std::memory_order_relaxed); }

  void resize(int n) {
    std::lock_guard<std::mutex> busy(busy_);
    stop_workers();
    threads_.store(n, std::memory_order_relaxed);
  }

  // Runs chunks [0, chunks) of `fn`; false if the pool is busy (the caller then runs them).
  bool run(int64_t chunks, const std::function<void(int64_t)>& fn) {
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (!busy.owns_lock()) return false;
    const int want = std::min<int64_t>(threads(), chunks) - 1;
    if (static_cast<int>(workers_.size()) < want) start_workers(want);
    {
      std::lock_guard<std::mutex> lock(mu_);
      job_ = &fn;
      chunks_ = chunks;
      next_.store(0, std::memory_order_relaxed);
      ++generation_;
    }
    work_cv_.notify_all();
    in_pool_job = true;
    std::exception_ptr error = take_chunks(fn, chunks);
    in_pool_job = false;
    std::unique_lock<std::mutex> lock(mu_);
    job_ = nullptr;  // workers waking from now on do not join
    done_cv_.wait(lock, [&] { return joined_ == 0; });
    if (!error) error = std::exchange(worker_error_, nullptr);
    worker_error_ = nullptr;
    lock.unlock();
    if (error) std::rethrow_exception(error);
    return true;
  }

 private:
  Pool() : threads_(default_threads()) {}

  // Runs chunks until none are left; an exception stops the job (no new chunks are handed out)
  // and is returned.
  std::exception_ptr take_chunks(const std::function<void(int64_t)>& fn, int64_t chunks) {
    try {
      for (int64_t c; (c = next_.fetch_add(1, std::memory_order_relaxed)) < chunks;) fn(c);
    } catch (...) {
      next_.store(chunks, std::memory_order_relaxed);
      return std::current_exception();
    }
    return nullptr;
  }

  void start_workers(int n) {
    while (static_cast<int>(workers_.size()) < n) {
      workers_.emplace_back([this, seen = generation_] { worker(seen); });
    }
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    work_cv_.notify_all();
    for (std::thread& t : workers_) t.join();
    workers_.clear();
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = false;
  }

  // `seen`: the generation when the worker was started (only the pool's caller changes it).
  void worker(uint64_t seen) {
    in_pool_job = true;
    for (;;) {
      const std::function<void(int64_t)>* fn;
      int64_t chunks;
      {
        std::unique_lock<std::mutex> lock(mu_);
        work_cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        if (job_ == nullptr) continue;
        fn = job_;
        chunks = chunks_;
        ++joined_;
      }
      std::exception_ptr error = take_chunks(*fn, chunks);
      std::lock_guard<std::mutex> lock(mu_);
      if (error && !worker_error_) worker_error_ = error;
      if (--joined_ == 0) done_cv_.notify_one();
    }
  }

  std::atomic<int> threads_;
  std::mutex busy_;  // held by the one caller whose job the pool runs
  std::mutex mu_;    // guards the fields below
  std::condition_variable work_cv_, done_cv_;
  std::vector<std::thread> workers_;
  const std::function<void(int64_t)>* job_ = nullptr;
  int64_t chunks_ = 0;
  uint64_t generation_ = 0;
  int joined_ = 0;
  bool stop_ = false;
  std::exception_ptr worker_error_;  // the first exception a worker's chunk threw
  std::atomic<int64_t> next_{0};
};

}  // namespace

namespace config {

void set_num_threads(int n) {
  if (n < 1 || n > kMaxThreads) {
    throw InvalidArgumentError(
        cat("set_num_threads: the thread count must be in 1..", kMaxThreads, ", got ", n));
  }
  Pool::get().resize(n);
}

int num_threads() { return Pool::get().threads(); }

}  // namespace config

namespace internal {

namespace {

// Equal chunks of at least `grain` items (at most one per thread), their size rounded up to a
// multiple of `align`; the last chunk may be shorter.
struct Split {
  int64_t chunks = 1, step = 0;
};

Split split(int64_t n, int64_t grain, int64_t align) {
  if (in_pool_job || n <= 0) return {1, n};
  const int64_t threads = Pool::get().threads();
  const int64_t chunks = std::clamp<int64_t>(n / std::max<int64_t>(grain, 1), 1, threads);
  if (chunks == 1) return {1, n};
  const int64_t a = std::max<int64_t>(align, 1);
  const int64_t step = ((n + chunks - 1) / chunks + a - 1) / a * a;
  return {(n + step - 1) / step, step};
}

}  // namespace

int64_t parallel_chunks(int64_t n, int64_t grain, int64_t align) {
  return split(n, grain, align).chunks;
}

void parallel_for(int64_t n, int64_t grain, int64_t align,
                  const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  const Split s = split(n, grain, align);
  if (s.chunks <= 1) {
    fn(0, n);
    return;
  }
  const std::function<void(int64_t)> chunk = [&](int64_t c) {
    fn(c * s.step, std::min(n, (c + 1) * s.step));
  };
  if (!Pool::get().run(s.chunks, chunk)) fn(0, n);
}

}  // namespace internal
}  // namespace kiln

extern "C" void kiln_rt_parallel_for(void (*fn)(int64_t, int64_t, void*), void* ctx, int64_t n,
                                     int64_t grain, int64_t align) noexcept {
  kiln::internal::parallel_for(n, grain, align,
                               [&](int64_t begin, int64_t end) { fn(begin, end, ctx); });
}
