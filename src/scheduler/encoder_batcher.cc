#include "scheduler/encoder_batcher.h"

namespace snapformer {

namespace {
double ms_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}
}  // namespace

EncoderBatcher::EncoderBatcher(std::size_t max_queued_jobs, int64_t max_batch_tokens)
    : max_queued_jobs_(max_queued_jobs), max_batch_tokens_(max_batch_tokens), worker_([this] { work(); }) {}

EncoderBatcher::~EncoderBatcher() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  ready_.notify_all();
  worker_.join();
}

std::future<EncoderJobResult> EncoderBatcher::submit(std::shared_ptr<const Pipeline> pipeline, Task task,
                                                     std::vector<Encoding> encodings, Pooling pooling, bool normalize) {
  Job job{std::move(pipeline), task, pooling, normalize, std::move(encodings), 0, std::chrono::steady_clock::now(), {}};
  for (const Encoding& e : job.encodings) job.tokens += static_cast<int64_t>(e.size());
  auto future = job.promise.get_future();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (queue_.size() >= max_queued_jobs_)
      throw OverloadedError("the inference queue is full (" + std::to_string(max_queued_jobs_) + " requests waiting)");
    queue_.push_back(std::move(job));
    stats_.queue_depth = static_cast<int64_t>(queue_.size());
  }
  ready_.notify_one();
  return future;
}

BatcherStats EncoderBatcher::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void EncoderBatcher::work() {
  for (;;) {
    std::vector<Job> batch;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      ready_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
      int64_t tokens = batch.front().tokens;
      for (auto it = queue_.begin(); it != queue_.end();) {
        if (compatible(batch.front(), *it) && tokens + it->tokens <= max_batch_tokens_) {
          tokens += it->tokens;
          batch.push_back(std::move(*it));
          it = queue_.erase(it);
        } else {
          ++it;
        }
      }
      stats_.queue_depth = static_cast<int64_t>(queue_.size());
    }
    run(batch);
  }
}

void EncoderBatcher::run(std::vector<Job>& batch) {
  const auto started = std::chrono::steady_clock::now();
  std::vector<Encoding> all;
  int64_t tokens = 0;
  for (Job& job : batch) {
    tokens += job.tokens;
    for (Encoding& e : job.encodings) all.push_back(std::move(e));
  }
  const Job& first = batch.front();
  try {
    EncoderJobResult combined;
    if (first.task == Task::kClassify) combined.classifications = first.pipeline->classify_encoded(all);
    else combined.embeddings = first.pipeline->embed_encoded(all, first.pooling, first.normalize);
    const auto finished = std::chrono::steady_clock::now();
    std::size_t offset = 0;
    for (Job& job : batch) {
      EncoderJobResult result;
      const std::size_t n = job.encodings.size();
      if (first.task == Task::kClassify)
        result.classifications.assign(combined.classifications.begin() + static_cast<std::ptrdiff_t>(offset),
                                      combined.classifications.begin() + static_cast<std::ptrdiff_t>(offset + n));
      else
        result.embeddings.assign(combined.embeddings.begin() + static_cast<std::ptrdiff_t>(offset),
                                 combined.embeddings.begin() + static_cast<std::ptrdiff_t>(offset + n));
      offset += n;
      result.queue_ms = ms_between(job.enqueued, started);
      result.inference_ms = ms_between(started, finished);
      result.batch_inputs = static_cast<int64_t>(all.size());
      job.promise.set_value(std::move(result));
    }
  } catch (...) {
    for (Job& job : batch) job.promise.set_exception(std::current_exception());
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.batches += 1;
    stats_.batched_inputs += static_cast<int64_t>(all.size());
  }
  if (on_batch) on_batch(static_cast<int64_t>(all.size()), tokens);
}

}  // namespace snapformer
