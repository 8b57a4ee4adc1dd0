// The sum of a host's reservations in VM id order, cached for admission
// checks. Python-free.
#pragma once

namespace vsched {

// Non-negative terms summed in a fixed order (VMs in id order, so that native
// and reference agree on an admission boundary), cached while terms are only
// appended: adding the new last term to the cached sum is exactly what summing
// again in order would give. Any other change (a removal, a changed term)
// invalidates it, and the next value() sums again.
class CachedOrderedSum {
public:
    void append(double term) {
        if (valid_) sum_ += term;
    }
    void invalidate() { valid_ = false; }
    // sum_in_order() recomputes the sum when the cache is invalid.
    template <class SumInOrder>
    double value(SumInOrder sum_in_order) const {
        if (!valid_) {
            sum_ = sum_in_order();
            valid_ = true;
        }
        return sum_;
    }

private:
    mutable double sum_ = 0.0;
    mutable bool valid_ = true;
};

}  // namespace vsched
