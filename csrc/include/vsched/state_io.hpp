// Checkpoints of the native engines: a flat, versioned byte string.
//
// Every engine that can be pickled writes its whole state with a StateWriter
// and reads it back with a StateReader, so that a restored object continues
// bit-identically (docs/design.md, "State that can move"). The layout is
//
//   "vsched" '\0' | kind (NUL-terminated) | format (u32) | fields...
//
// where `kind` names the engine ("CpuScheduler", ...) and `format` is the
// engine's layout version: bump it whenever the fields written change, so an
// old checkpoint is refused with a clear message instead of being misread.
// Fields are trivially copyable values and vectors of them, in host byte
// order (a checkpoint is for this build's machine, like a core file).
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "vsched/errors.hpp"

namespace vsched {

// FNV-1a of a checkpoint body: engines that store it beside the body refuse
// damaged bytes instead of misreading them.
inline std::uint64_t state_hash(const std::string& bytes) {
    std::uint64_t hash = 14695981039346656037ull;
    for (const char c : bytes) {
        hash ^= static_cast<unsigned char>(c);
        hash *= 1099511628211ull;
    }
    return hash;
}

class StateWriter {
public:
    StateWriter(const char* kind, std::uint32_t format) {
        bytes_.append("vsched", 7);  // includes the NUL
        bytes_.append(kind, std::strlen(kind) + 1);
        put(format);
    }

    template <class T>
    void put(const T& value) {
        static_assert(std::is_trivially_copyable_v<T>, "put() takes trivially copyable values");
        bytes_.append(reinterpret_cast<const char*>(&value), sizeof(T));
    }

    template <class T, class A>
    void put_vector(const std::vector<T, A>& values) {
        put_array(values.data(), values.size());
    }

    // The encoding of put_vector, from any contiguous array of n values.
    template <class T>
    void put_array(const T* values, std::size_t n) {
        static_assert(std::is_trivially_copyable_v<T>, "put_array() takes trivially copyable elements");
        put(static_cast<std::uint64_t>(n));
        if (n) bytes_.append(reinterpret_cast<const char*>(values), n * sizeof(T));
    }

    // std::vector<bool> is not contiguous: one byte per element.
    void put_vector(const std::vector<bool>& values) {
        put(static_cast<std::uint64_t>(values.size()));
        for (bool b : values) put(static_cast<std::uint8_t>(b));
    }

    void put_string(const std::string& s) {
        put(static_cast<std::uint64_t>(s.size()));
        bytes_.append(s);
    }

    const std::string& bytes() const { return bytes_; }
    std::string take() { return std::move(bytes_); }

private:
    std::string bytes_;
};

class StateReader {
public:
    // Throws ValueError (std::invalid_argument) unless `bytes` is a checkpoint
    // of `kind` in layout `format`.
    StateReader(const std::string& bytes, const char* kind, std::uint32_t format) : bytes_(bytes) {
        if (bytes_.size() < 7 || std::memcmp(bytes_.data(), "vsched", 7) != 0) {
            throw std::invalid_argument(message("not a vsched checkpoint (expected one of ", kind, ")"));
        }
        pos_ = 7;
        const std::size_t end = bytes_.find('\0', pos_);
        if (end == std::string::npos) throw std::invalid_argument("truncated vsched checkpoint");
        const std::string found(bytes_.data() + pos_, end - pos_);
        pos_ = end + 1;
        if (found != kind) {
            throw std::invalid_argument(message("checkpoint of a ", found, ", not of a ", kind));
        }
        const auto got = get<std::uint32_t>();
        if (got != format) {
            throw std::invalid_argument(message("checkpoint of ", kind, " in format ", got,
                                                "; this build of vsched reads format ", format));
        }
    }

    template <class T>
    T get() {
        static_assert(std::is_trivially_copyable_v<T>, "get() returns trivially copyable values");
        need(sizeof(T));
        T value;
        std::memcpy(&value, bytes_.data() + pos_, sizeof(T));
        pos_ += sizeof(T);
        return value;
    }

    // A = the vector's allocator (e.g. a huge-page allocator for big arrays).
    template <class T, class A = std::allocator<T>>
    std::vector<T, A> get_vector() {
        const auto n = get<std::uint64_t>();
        if constexpr (std::is_same_v<T, bool>) {
            std::vector<bool> out(static_cast<std::size_t>(n));
            need(static_cast<std::size_t>(n));
            for (std::size_t i = 0; i < out.size(); ++i) out[i] = get<std::uint8_t>() != 0;
            return out;
        } else {
            static_assert(std::is_trivially_copyable_v<T>, "get_vector() takes trivially copyable elements");
            if (n > (bytes_.size() - pos_) / sizeof(T)) throw std::invalid_argument("truncated vsched checkpoint");
            std::vector<T, A> out(static_cast<std::size_t>(n));
            if (n) std::memcpy(out.data(), bytes_.data() + pos_, static_cast<std::size_t>(n) * sizeof(T));
            pos_ += static_cast<std::size_t>(n) * sizeof(T);
            return out;
        }
    }

    std::string get_string() {
        const auto n = get<std::uint64_t>();
        need(static_cast<std::size_t>(n));
        std::string out(bytes_.data() + pos_, static_cast<std::size_t>(n));
        pos_ += static_cast<std::size_t>(n);
        return out;
    }

    // Call after the last field: trailing bytes mean a different layout.
    void expect_end() const {
        if (pos_ != bytes_.size()) throw std::invalid_argument("vsched checkpoint has trailing bytes (corrupt)");
    }

private:
    void need(std::size_t n) const {
        if (n > bytes_.size() - pos_) throw std::invalid_argument("truncated vsched checkpoint");
    }

    const std::string& bytes_;
    std::size_t pos_ = 0;
};

}  // namespace vsched
