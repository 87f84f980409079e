#include "hub/stats/user_cap.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace skyport::hub {

double UserMagnitude(const UserTotals& u) { return std::max(std::fabs(u.sum), std::sqrt(std::max(u.sum_sq, 0.0))); }

double UserCap(std::vector<double>& magnitudes, double percentile) {
  constexpr double kNone = std::numeric_limits<double>::infinity();
  if (!(percentile > 0 && percentile < 100) || magnitudes.size() < 2) return kNone;
  const auto rank = static_cast<size_t>(std::floor(percentile / 100 * static_cast<double>(magnitudes.size() - 1)));
  std::nth_element(magnitudes.begin(), magnitudes.begin() + static_cast<std::ptrdiff_t>(rank), magnitudes.end());
  return magnitudes[rank];
}

bool CapUser(UserTotals& u, double cap) {
  const double m = UserMagnitude(u);
  if (!(m > cap)) return false;
  const double f = cap / m;
  u.sum *= f;
  u.sum_sq *= f * f;
  return true;
}

}  // namespace skyport::hub
