#include "hub/deploys/releases.h"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "core/utf8.h"

namespace skyport::hub {

std::string OutcomeName(ReleaseOutcome o) {
  switch (o) {
    case ReleaseOutcome::kPending: return "pending";
    case ReleaseOutcome::kSucceeded: return "succeeded";
    case ReleaseOutcome::kFailed: return "failed";
    case ReleaseOutcome::kInterrupted: return "interrupted";
  }
  return "pending";
}

namespace {

std::optional<ReleaseOutcome> OutcomeFromName(const std::string& s) {
  for (auto o : {ReleaseOutcome::kPending, ReleaseOutcome::kSucceeded, ReleaseOutcome::kFailed,
                 ReleaseOutcome::kInterrupted})
    if (OutcomeName(o) == s) return o;
  return std::nullopt;
}

using json = nlohmann::json;

json ReleaseToJson(const Release& r) {
  return {{"number", r.number},
          {"commit", r.commit},
          {"config_version", r.config_version},
          {"who", r.who},
          {"created_unix_ms", r.created_unix_ms},
          {"finished_unix_ms", r.finished_unix_ms},
          {"drones", r.drones},
          {"instances", r.instances},
          {"env", r.env},
          {"outcome", OutcomeName(r.outcome)},
          {"error", r.error},
          {"description", r.description},
          {"rollback_to", r.rollback_to},
          {"restart", r.restart}};
}

// get<> converts silently (-1 would become 4294967295): check the kind first.
uint32_t U32(const json& e, const char* key, uint32_t dflt) {
  if (!e.contains(key)) return dflt;
  const json& v = e.at(key);
  if (!v.is_number_unsigned() || v.get<uint64_t>() > UINT32_MAX)
    throw std::invalid_argument(fmt::format("{} must be an unsigned 32-bit integer", key));
  return v.get<uint32_t>();
}
int64_t I64(const json& e, const char* key) {
  if (!e.contains(key)) return 0;
  if (!e.at(key).is_number_integer()) throw std::invalid_argument(fmt::format("{} must be an integer", key));
  return e.at(key).get<int64_t>();
}

Release ReleaseFromJson(const json& e) {
  Release r;
  r.number = U32(e, "number", 0);
  if (r.number == 0) throw std::invalid_argument("number must be >= 1");
  r.commit = e.at("commit").get<std::string>();
  r.config_version = I64(e, "config_version");
  r.who = e.value("who", std::string("cluster"));
  r.created_unix_ms = I64(e, "created_unix_ms");
  r.finished_unix_ms = I64(e, "finished_unix_ms");
  r.drones = e.value("drones", std::set<std::string>{});
  r.instances = U32(e, "instances", 1);
  r.env = e.value("env", std::map<std::string, std::string>{});
  auto outcome = OutcomeFromName(e.value("outcome", std::string("pending")));
  if (!outcome) throw std::invalid_argument("outcome: not one of pending, succeeded, failed, interrupted");
  r.outcome = *outcome;
  r.error = e.value("error", std::string());
  r.description = e.value("description", std::string("deploy"));
  r.rollback_to = U32(e, "rollback_to", 0);
  if (e.contains("restart") && !e.at("restart").is_boolean()) throw std::invalid_argument("restart must be a boolean");
  r.restart = e.value("restart", false);
  return r;
}

// About what a release takes in the saved JSON.
size_t ApproxBytes(const Release& r) {
  size_t n = 320 + r.commit.size() + r.who.size() + r.error.size() + r.description.size();
  for (const auto& d : r.drones) n += d.size() + 8;
  for (const auto& [k, v] : r.env) n += k.size() + v.size() + 12;
  return n;
}

}  // namespace

const Release* AppReleases::Find(uint32_t number) const {
  for (const auto& r : releases)
    if (r.number == number) return &r;
  return nullptr;
}

uint32_t ReleaseBook::Begin(const std::string& app, Release r) {
  AppReleases& a = apps_[app];
  r.number = a.next++;
  r.outcome = ReleaseOutcome::kPending;
  r.finished_unix_ms = 0;
  if (r.who.empty()) r.who = "cluster";
  a.releases.push_back(std::move(r));
  while (a.releases.size() > kKeepReleases) {
    a.releases.pop_front();
    ++a.dropped;
  }
  const uint32_t number = a.next - 1;
  TrimToBudget();
  return number;
}

void ReleaseBook::TrimToBudget() {
  size_t total = 0;
  for (const auto& [app, a] : apps_)
    for (const auto& r : a.releases) total += ApproxBytes(r);
  while (total > kMaxReleaseBookBytes) {
    // The app with the most releases gives its oldest resolved one (not its newest).
    AppReleases* most = nullptr;
    size_t at = 0;
    for (auto& [app, a] : apps_) {
      if (most != nullptr && a.releases.size() <= most->releases.size()) continue;
      for (size_t i = 0; i + 1 < a.releases.size(); ++i)
        if (a.releases[i].outcome != ReleaseOutcome::kPending) {
          most = &a;
          at = i;
          break;
        }
    }
    if (most == nullptr) return;  // only newest or pending releases left
    total -= ApproxBytes(most->releases[at]);
    most->releases.erase(most->releases.begin() + static_cast<std::ptrdiff_t>(at));
    ++most->dropped;
  }
}

bool ReleaseBook::Finish(const std::string& app, uint32_t number, ReleaseOutcome outcome, const std::string& error,
                         int64_t now_unix_ms) {
  auto it = apps_.find(app);
  if (it == apps_.end()) return false;
  for (auto& r : it->second.releases) {
    if (r.number != number) continue;
    if (r.outcome != ReleaseOutcome::kPending) return false;
    r.outcome = outcome;
    r.error = outcome == ReleaseOutcome::kSucceeded ? "" : CutUtf8(error, kMaxReleaseErrorBytes);
    r.finished_unix_ms = now_unix_ms;
    return true;
  }
  return false;
}

size_t ReleaseBook::InterruptPending(const std::string& why) {
  size_t n = 0;
  for (auto& [app, a] : apps_)
    for (auto& r : a.releases)
      if (r.outcome == ReleaseOutcome::kPending) {
        r.outcome = ReleaseOutcome::kInterrupted;
        r.error = why;
        ++n;
      }
  return n;
}

Status ReleaseBook::AddRetirement(const std::string& app, const Retirement& r) {
  AppReleases& a = apps_[app];
  for (auto& old : a.retiring)
    if (old.commit == r.commit) {
      old = r;  // the newer rollback's grace decides
      return Status::Ok();
    }
  if (a.retiring.size() >= kMaxRetirementsPerApp)
    return Status::ResourceExhausted(fmt::format("{} already has {} commits waiting for their grace to end",
                                                 app, kMaxRetirementsPerApp));
  a.retiring.push_back(r);
  return Status::Ok();
}

bool ReleaseBook::DropRetirement(const std::string& app, const std::string& commit, uint32_t release) {
  auto it = apps_.find(app);
  if (it == apps_.end()) return false;
  auto& v = it->second.retiring;
  auto r = std::find_if(v.begin(), v.end(),
                        [&](const Retirement& x) { return x.commit == commit && x.release == release; });
  if (r == v.end()) return false;
  v.erase(r);
  return true;
}

std::vector<std::pair<std::string, Retirement>> ReleaseBook::Due(int64_t now_unix_ms) const {
  std::vector<std::pair<std::string, Retirement>> out;
  for (const auto& [app, a] : apps_)
    for (const auto& r : a.retiring)
      if (r.at_unix_ms <= now_unix_ms) out.emplace_back(app, r);
  return out;
}

const AppReleases* ReleaseBook::Find(const std::string& app) const {
  auto it = apps_.find(app);
  return it == apps_.end() ? nullptr : &it->second;
}

std::vector<std::string> ReleaseBook::Apps() const {
  std::vector<std::string> out;
  for (const auto& [app, a] : apps_) out.push_back(app);
  return out;
}

json ReleaseBook::ToJson() const {
  json out = json::object();
  for (const auto& [app, a] : apps_) {
    json rels = json::array(), ret = json::array();
    for (const auto& r : a.releases) rels.push_back(ReleaseToJson(r));
    for (const auto& r : a.retiring)
      ret.push_back({{"commit", r.commit}, {"at_unix_ms", r.at_unix_ms}, {"release", r.release}});
    out[app] = {{"next", a.next}, {"dropped", a.dropped}, {"releases", rels}, {"retiring", ret}};
  }
  return out;
}

Result<ReleaseBook> ReleaseBook::FromJson(const json& j) {
  if (!j.is_object()) return Status::DataLoss("releases: must be an object of apps");
  ReleaseBook book;
  for (const auto& [app, e] : j.items()) {
    try {
      AppReleases a;
      a.next = U32(e, "next", 1);
      if (e.contains("dropped") && !e.at("dropped").is_number_unsigned())
        throw std::invalid_argument("dropped must be an unsigned integer");
      a.dropped = e.value("dropped", uint64_t{0});
      uint32_t last = 0;
      for (const auto& r : e.value("releases", json::array())) {
        Release rel = ReleaseFromJson(r);
        if (rel.number <= last) throw std::invalid_argument("release numbers must increase");
        last = rel.number;
        a.releases.push_back(std::move(rel));
      }
      // A number is never given twice, even if the file's `next` lags behind.
      a.next = std::max(a.next, last + 1);
      for (const auto& r : e.value("retiring", json::array())) {
        Retirement t;
        t.commit = r.at("commit").get<std::string>();
        t.at_unix_ms = I64(r, "at_unix_ms");
        t.release = U32(r, "release", 0);
        a.retiring.push_back(std::move(t));
      }
      book.apps_[app] = std::move(a);
    } catch (const std::exception& ex) {
      return Status::DataLoss(fmt::format("releases of {}: {}", app, ex.what()));
    }
  }
  return book;
}

}  // namespace skyport::hub
