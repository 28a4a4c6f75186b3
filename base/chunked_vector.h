// A vector in fixed chunks of 2^kChunkBits elements, for large tables whose peak memory
// counts (the series tracker's entries and pointers, a million and more of them).
//
// A std::vector that doubles holds its old and its new array at once while it copies, so
// its peak is up to three times what it holds, and it keeps up to half its capacity
// unused afterwards. Growing by a chunk costs one chunk and copies nothing: the peak is
// what is held plus at most one chunk. Elements never move, so a reference stays valid
// until clear(). Indexing is one shift, one mask and one more load (the chunk pointers,
// which stay in cache).
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

namespace rwgate {

template <typename T, unsigned kChunkBits = 12>
class ChunkedVector {
 public:
  static constexpr size_t kChunk = size_t{1} << kChunkBits;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  T& operator[](size_t i) { return chunks_[i >> kChunkBits][i & (kChunk - 1)]; }
  const T& operator[](size_t i) const { return chunks_[i >> kChunkBits][i & (kChunk - 1)]; }

  void push_back(const T& v) {
    if (size_ == chunks_.size() * kChunk) chunks_.push_back(std::make_unique<T[]>(kChunk));
    (*this)[size_++] = v;
  }

  // Frees every chunk.
  void clear() {
    chunks_.clear();
    chunks_.shrink_to_fit();
    size_ = 0;
  }

 private:
  std::vector<std::unique_ptr<T[]>> chunks_;
  size_t size_ = 0;
};

}  // namespace rwgate
