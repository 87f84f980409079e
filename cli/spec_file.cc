#include "cli/spec_file.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "hub/flight_spec.h"

namespace skyport::cli {
namespace {

// What alias expansion may add to a YAML spec (nodes plus scalar bytes).
constexpr size_t kAliasSlack = 64 * 1024;

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

nlohmann::json Scalar(const YAML::Node& n) {
  const std::string& v = n.Scalar();
  if (n.Tag() != "?") return v;  // quoted (or explicitly tagged): a string
  if (v.empty() || v == "~" || v == "null" || v == "Null" || v == "NULL") return nullptr;
  if (v == "true" || v == "True" || v == "TRUE") return true;
  if (v == "false" || v == "False" || v == "FALSE") return false;
  // Numbers: what JSON would read as one.
  auto num = nlohmann::json::parse(v, nullptr, false);
  if (!num.is_discarded() && num.is_number()) return num;
  return v;
}

// Aliases share nodes, so a small file can stand for an exponentially large
// document ("billion laughs"). `budget` counts what the conversion may still
// produce, in nodes plus scalar bytes, aliases expanded; SpecTextToJson sets it
// to twice the text plus some slack, which a file without aliases never uses up.
bool Spend(size_t cost, size_t& budget) {
  if (cost > budget) return false;
  budget -= cost;
  return true;
}

Status TooLarge(const std::string& name) {
  return Status::InvalidArgument(
      fmt::format("{}: aliases expand the document too far (more than twice its size plus {} nodes and bytes)", name,
                  kAliasSlack));
}

Result<nlohmann::json> ToJson(const YAML::Node& n, const std::string& name, size_t& budget) {
  if (!Spend(1 + (n.IsScalar() ? n.Scalar().size() : 0), budget)) return TooLarge(name);
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nlohmann::json(nullptr);
    case YAML::NodeType::Scalar:
      return Scalar(n);
    case YAML::NodeType::Sequence: {
      auto out = nlohmann::json::array();
      for (const auto& item : n) {
        auto j = ToJson(item, name, budget);
        if (!j.ok()) return j;
        out.push_back(std::move(*j));
      }
      return out;
    }
    case YAML::NodeType::Map: {
      auto out = nlohmann::json::object();
      for (const auto& kv : n) {
        if (!kv.first.IsScalar())
          return Status::InvalidArgument(fmt::format("{}: line {}: map keys must be plain strings", name,
                                                     kv.first.Mark().line + 1));
        if (!Spend(kv.first.Scalar().size(), budget)) return TooLarge(name);
        auto j = ToJson(kv.second, name, budget);
        if (!j.ok()) return j;
        out[kv.first.Scalar()] = std::move(*j);
      }
      return out;
    }
  }
  return nlohmann::json(nullptr);
}

}  // namespace

Result<std::string> SpecTextToJson(std::string_view text, bool yaml, const std::string& name) {
  // Both parsers' trees are walked recursively: refuse absurd nesting first
  // (YAML flow collections use the same brackets; block nesting is bounded by the 1 MiB limit).
  if (!hub::JsonDepthWithin(text, hub::kMaxSpecDepth))
    return Status::InvalidArgument(fmt::format("{}: nested deeper than {} levels", name, hub::kMaxSpecDepth));
  if (!yaml) {
    auto doc = nlohmann::json::parse(text, nullptr, false);
    if (doc.is_discarded()) {
      // Parse again with exceptions for the position; nothing escapes.
      try {
        (void)nlohmann::json::parse(text);
      } catch (const nlohmann::json::parse_error& e) {
        return Status::InvalidArgument(fmt::format("{}: not valid JSON: {}", name, e.what()));
      }
      return Status::InvalidArgument(fmt::format("{}: not valid JSON", name));
    }
    return doc.dump();
  }
  try {
    YAML::Node root = YAML::Load(std::string(text));
    size_t budget = 2 * text.size() + kAliasSlack;
    auto j = ToJson(root, name, budget);
    if (!j.ok()) return j.status();
    return j->dump();
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(fmt::format("{}: not valid YAML: line {}: {}", name, e.mark.line + 1, e.msg));
  } catch (const nlohmann::json::exception& e) {  // e.g. invalid UTF-8 in a scalar
    return Status::InvalidArgument(fmt::format("{}: cannot be read as JSON: {}", name, e.what()));
  }
}

Result<std::string> SpecFileToJson(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument(fmt::format("{}: cannot read the file", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  if (text.size() > (1u << 20)) return Status::InvalidArgument(fmt::format("{}: larger than 1 MiB", path));
  size_t first = text.find_first_not_of(" \t\r\n");
  bool yaml = EndsWith(path, ".yaml") || EndsWith(path, ".yml") || (first != std::string::npos && text[first] != '{');
  return SpecTextToJson(text, yaml, path);
}

}  // namespace skyport::cli
