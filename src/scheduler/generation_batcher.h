// GenerationBatcher: continuous batching of text generations.
//
// One worker thread advances every active generation of a model together:
// each iteration feeds all sessions' pending tokens (new prompts and the last
// token of running ones) through one Gpt2Model::forward call, computes the LM
// head for all of them at once, and lets each session sample. Sessions join
// and leave between iterations, so a long generation never blocks a short
// one, and decoding 8 sequences costs about what decoding one does (the
// weights are read once per step).
//
// Token callbacks run on the worker thread and must be quick (the server
// hands them to a queue). Thread-safety: generate() may be called from any
// thread; it blocks until its generation finishes.
#pragma once

#include <condition_variable>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "scheduler/encoder_batcher.h"
#include "tasks/generation_session.h"

namespace snapformer {

class GenerationBatcher {
 public:
  // At most `max_active` sessions per forward pass; at most `max_queued`
  // waiting to start (more: OverloadedError).
  GenerationBatcher(std::size_t max_active, std::size_t max_queued);
  ~GenerationBatcher();
  GenerationBatcher(const GenerationBatcher&) = delete;
  GenerationBatcher& operator=(const GenerationBatcher&) = delete;

  // Starts a generation (the prompt is tokenized and checked here, on the
  // caller's thread) and returns its future result.
  std::future<GenerateResult> submit(std::shared_ptr<const Pipeline> pipeline, const TaskInput& input,
                                     const GenerationOptions& options, TokenCallback on_token = nullptr);
  // Active sessions in the last step (for metrics).
  int64_t active() const;

 private:
  struct Entry {
    std::shared_ptr<const Pipeline> pipeline;
    std::unique_ptr<GenerationSession> session;
    std::promise<GenerateResult> promise;
    bool failed = false;  // the promise already holds an exception
    bool done() const { return failed || session->finished(); }
  };
  void work();
  void step(std::vector<Entry*>& group);

  const std::size_t max_active_, max_queued_;
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Entry> waiting_;
  std::vector<Entry> active_;
  bool stop_ = false;
  int64_t last_active_ = 0;
  std::thread worker_;
};

}  // namespace snapformer
