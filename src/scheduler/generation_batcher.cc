#include "scheduler/generation_batcher.h"

#include <algorithm>
#include <cstring>

namespace snapformer {

GenerationBatcher::GenerationBatcher(std::size_t max_active, std::size_t max_queued)
    : max_active_(std::max<std::size_t>(1, max_active)), max_queued_(max_queued), worker_([this] { work(); }) {}

GenerationBatcher::~GenerationBatcher() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  ready_.notify_all();
  worker_.join();
}

std::future<GenerateResult> GenerationBatcher::submit(std::shared_ptr<const Pipeline> pipeline, const TaskInput& input,
                                                      const GenerationOptions& options, TokenCallback on_token) {
  Entry entry;
  entry.session = std::make_unique<GenerationSession>(*pipeline, input, options, std::move(on_token));
  entry.pipeline = std::move(pipeline);
  auto future = entry.promise.get_future();
  if (entry.session->finished()) {  // max_new_tokens 0
    entry.promise.set_value(entry.session->result());
    return future;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (waiting_.size() >= max_queued_)
      throw OverloadedError("the generation queue is full (" + std::to_string(max_queued_) + " waiting)");
    waiting_.push_back(std::move(entry));
  }
  ready_.notify_one();
  return future;
}

int64_t GenerationBatcher::active() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return last_active_;
}

void GenerationBatcher::work() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      ready_.wait(lock, [&] { return stop_ || !waiting_.empty() || !active_.empty(); });
      if (stop_ && waiting_.empty() && active_.empty()) return;
      while (!waiting_.empty() && active_.size() < max_active_) {
        active_.push_back(std::move(waiting_.front()));
        waiting_.pop_front();
      }
      last_active_ = static_cast<int64_t>(active_.size());
    }
    // Sessions of the same model share a forward pass.
    std::vector<const Pipeline*> models;
    for (const Entry& e : active_)
      if (std::find(models.begin(), models.end(), e.pipeline.get()) == models.end()) models.push_back(e.pipeline.get());
    for (const Pipeline* model : models) {
      std::vector<Entry*> group;
      for (Entry& e : active_)
        if (e.pipeline.get() == model) group.push_back(&e);
      step(group);
    }
    // Finished sessions leave; their callers wake up.
    for (Entry& e : active_)
      if (!e.failed && e.session->finished()) e.promise.set_value(e.session->result());
    active_.erase(std::remove_if(active_.begin(), active_.end(), [](const Entry& e) { return e.done(); }), active_.end());
  }
}

void GenerationBatcher::step(std::vector<Entry*>& group) {
  const Gpt2Model& decoder = *group.front()->pipeline->decoder();
  const int64_t h = decoder.config().hidden_size, vocab = decoder.config().vocab_size;
  std::vector<Gpt2Model::Step> steps;
  for (Entry* e : group) steps.push_back(e->session->step());
  try {
    const std::vector<float> hidden = decoder.forward(steps);
    // The last row of every session, then the LM head for all of them in one GEMM.
    std::vector<float> last(group.size() * static_cast<std::size_t>(h));
    int64_t row = 0;
    for (std::size_t i = 0; i < steps.size(); ++i) {
      row += steps[i].count;
      std::memcpy(last.data() + i * static_cast<std::size_t>(h), hidden.data() + (row - 1) * h,
                  static_cast<std::size_t>(h) * sizeof(float));
    }
    const std::vector<float> logits = decoder.logits(last.data(), static_cast<int64_t>(group.size()));
    for (std::size_t i = 0; i < group.size(); ++i) {
      try {
        group[i]->session->accept(std::vector<float>(logits.begin() + static_cast<std::ptrdiff_t>(i * vocab),
                                                     logits.begin() + static_cast<std::ptrdiff_t>((i + 1) * vocab)));
      } catch (...) {  // a callback threw: only that generation fails
        group[i]->promise.set_exception(std::current_exception());
        group[i]->failed = true;
      }
    }
  } catch (...) {
    for (Entry* e : group) {
      e->promise.set_exception(std::current_exception());
      e->failed = true;
    }
  }
}

}  // namespace snapformer
