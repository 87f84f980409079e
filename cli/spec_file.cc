#include "cli/spec_file.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/problems.h"
#include "contract/flight_spec.h"

namespace skyport::cli {
namespace {

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

// Converts with a budget: aliases let a few hundred bytes of YAML stand for
// billions of values ("billion laughs"), and an alias inside its own anchor
// for an endless tree, so every value produced is counted, scalar bytes are
// counted, and depth is bounded.
class YamlConverter {
 public:
  explicit YamlConverter(const std::string& name) : name_(name) {}

  Result<nlohmann::json> Convert(const YAML::Node& n, int depth) {
    if (depth > hub::kMaxSpecDepth)
      return Status::InvalidArgument(fmt::format("{}: nested deeper than {} levels",
                                                 name_, hub::kMaxSpecDepth));
    if (++nodes_ > kMaxYamlNodes)
      return Status::InvalidArgument(fmt::format(
          "{}: expands to more than {} values (aliases repeating anchors?): a flight spec is far smaller", name_,
          kMaxYamlNodes));
    switch (n.Type()) {
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        return nlohmann::json(nullptr);
      case YAML::NodeType::Scalar:
        if (Status s = Spend(n.Scalar().size()); !s.ok()) return s;
        return Scalar(n);
      case YAML::NodeType::Sequence: {
        auto out = nlohmann::json::array();
        for (const auto& item : n) {
          auto j = Convert(item, depth + 1);
          if (!j.ok()) return j;
          out.push_back(std::move(*j));
        }
        return out;
      }
      case YAML::NodeType::Map: {
        auto out = nlohmann::json::object();
        for (const auto& kv : n) {
          if (!kv.first.IsScalar())
            return Status::InvalidArgument(fmt::format("{}: line {}: map keys must be plain strings", name_,
                                                       kv.first.Mark().line + 1));
          if (Status s = Spend(kv.first.Scalar().size()); !s.ok()) return s;
          auto j = Convert(kv.second, depth + 1);
          if (!j.ok()) return j;
          out[kv.first.Scalar()] = std::move(*j);
        }
        return out;
      }
    }
    return nlohmann::json(nullptr);
  }

 private:
  Status Spend(size_t bytes) {
    bytes_ += bytes;
    if (bytes_ <= kMaxYamlScalarBytes) return Status::Ok();
    return Status::InvalidArgument(fmt::format("{}: expands to more than {} bytes of strings (aliases repeating anchors?)",
                                               name_, kMaxYamlScalarBytes));
  }

  const std::string& name_;
  size_t nodes_ = 0;
  size_t bytes_ = 0;
};

}  // namespace

Result<std::string> SpecTextToJson(std::string_view text, bool yaml, const std::string& name) {
  if (text.size() > kMaxSpecFileBytes)
    return Status::InvalidArgument(fmt::format("{}: larger than {} KiB", name, kMaxSpecFileBytes >> 10));
  // Both parsers' trees are walked recursively: refuse absurd nesting first
  // (YAML flow collections use the same brackets; block nesting is bounded by the 1 MiB limit).
  if (!hub::JsonDepthWithin(text, hub::kMaxSpecDepth))
    return Status::InvalidArgument(fmt::format("{}: nested deeper than {} levels", name, hub::kMaxSpecDepth));
  if (!yaml) {
    auto doc = nlohmann::json::parse(text, nullptr, false);
    if (doc.is_discarded()) {
      // Parse again with exceptions for the position; nothing escapes.
      try {
        doc = nlohmann::json::parse(text);
      } catch (const nlohmann::json::parse_error& e) {
        return Status::InvalidArgument(ClipEcho(fmt::format("{}: not valid JSON: {}", name, e.what())));
      }
      return Status::InvalidArgument(fmt::format("{}: not valid JSON", name));
    }
    return doc.dump();
  }
  try {
    YAML::Node root = YAML::Load(std::string(text));
    auto j = YamlConverter(name).Convert(root, 0);
    if (!j.ok()) return j.status();
    return j->dump();
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(ClipEcho(fmt::format("{}: not valid YAML: line {}: {}", name, e.mark.line + 1, e.msg)));
  } catch (const nlohmann::json::exception& e) {  // e.g. invalid UTF-8 in a scalar
    return Status::InvalidArgument(ClipEcho(fmt::format("{}: cannot be read as JSON: {}", name, e.what())));
  }
}

Result<std::string> SpecFileToJson(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument(fmt::format("{}: cannot read the file", path));
  // Never read more than the cap (+1 to tell "too large"): the file may be /dev/zero.
  std::string buf(kMaxSpecFileBytes + 1, '\0');
  in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
  buf.resize(static_cast<size_t>(in.gcount()));
  const std::string text = std::move(buf);
  size_t first = text.find_first_not_of(" \t\r\n");
  bool yaml = EndsWith(path, ".yaml") || EndsWith(path, ".yml") || (first != std::string::npos && text[first] != '{');
  return SpecTextToJson(text, yaml, path);
}

}  // namespace skyport::cli
