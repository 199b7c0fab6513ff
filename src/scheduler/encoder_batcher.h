// EncoderBatcher: dynamic batching of classification and embedding requests.
//
// Requests are tokenized by their callers, then queued here. One worker
// thread takes the oldest job and every queued job compatible with it (same
// pipeline, task and options) up to `max_batch_tokens`, runs them as one
// packed batch (no padding), and fulfils each job's future. A full queue
// rejects new jobs at once (OverloadedError) instead of growing without bound.
//
// Ownership: pipelines are shared with the batcher by shared_ptr for the
// life of each job. Thread-safety: submit() may be called from any thread;
// the destructor finishes queued jobs, then joins the worker.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "tasks/pipeline.h"
#include "util/error.h"

namespace snapformer {

class OverloadedError : public Error {
 public:
  using Error::Error;
};

struct EncoderJobResult {
  std::vector<ClassifyResult> classifications;
  std::vector<EmbedResult> embeddings;
  double queue_ms = 0;      // waiting in the queue
  double inference_ms = 0;  // the batch's forward pass
  int64_t batch_inputs = 0;  // inputs in the batch this job ran in
};

struct BatcherStats {
  int64_t batches = 0;
  int64_t batched_inputs = 0;
  int64_t queue_depth = 0;
};

class EncoderBatcher {
 public:
  EncoderBatcher(std::size_t max_queued_jobs, int64_t max_batch_tokens);
  ~EncoderBatcher();
  EncoderBatcher(const EncoderBatcher&) = delete;
  EncoderBatcher& operator=(const EncoderBatcher&) = delete;

  // Task must be kClassify or kEmbed. Throws OverloadedError when the queue is full.
  std::future<EncoderJobResult> submit(std::shared_ptr<const Pipeline> pipeline, Task task,
                                       std::vector<Encoding> encodings, Pooling pooling = Pooling::kDefault,
                                       bool normalize = false);
  BatcherStats stats() const;
  // Called with every batch's input count (for metrics); set before use.
  std::function<void(int64_t inputs, int64_t tokens)> on_batch;

 private:
  struct Job {
    std::shared_ptr<const Pipeline> pipeline;
    Task task;
    Pooling pooling;
    bool normalize;
    std::vector<Encoding> encodings;
    int64_t tokens;
    std::chrono::steady_clock::time_point enqueued;
    std::promise<EncoderJobResult> promise;
  };
  static bool compatible(const Job& a, const Job& b) {
    return a.pipeline == b.pipeline && a.task == b.task && a.pooling == b.pooling && a.normalize == b.normalize;
  }
  void work();
  void run(std::vector<Job>& batch);

  const std::size_t max_queued_jobs_;
  const int64_t max_batch_tokens_;
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Job> queue_;
  bool stop_ = false;
  BatcherStats stats_;
  std::thread worker_;
};

}  // namespace snapformer
