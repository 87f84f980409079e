// Left-aligned text columns for the human tables.
#pragma once

#include <string>
#include <vector>

namespace skyport::cli {

// One line per row, cells padded to the widest in their column (counting
// UTF-8 characters) and two spaces apart; the last cell is not padded. Ends
// with a newline.
std::string AlignColumns(const std::vector<std::vector<std::string>>& rows);

}  // namespace skyport::cli
