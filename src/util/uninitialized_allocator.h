// An allocator whose value-less construct() leaves trivial elements
// uninitialized, so `std::vector<T, UninitializedAllocator<T>> v(n)` allocates
// without writing: the buffer's first writes are the caller's own (for large
// buffers filled in parallel, each page is faulted in by the thread that
// fills it, instead of all of them by one zeroing pass first).
//
// Stateless; thread-safe as std::allocator is.
#pragma once

#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

namespace snapformer {

template <typename T>
struct UninitializedAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = UninitializedAllocator<U>;
  };
  UninitializedAllocator() = default;
  template <typename U>
  UninitializedAllocator(const UninitializedAllocator<U>&) noexcept {}

  template <typename U>
  void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void*>(p)) U;  // default-initialization: no zeroing for trivial U
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

// Floats that every user writes before reading: weights converted at load,
// a forward pass's activations (not zeroed first: ~1% of an int8 DistilBERT
// batch of short inputs went to zeroing buffers the kernels then overwrite).
using FloatBuffer = std::vector<float, UninitializedAllocator<float>>;

}  // namespace snapformer
