#include "hub/git/push_apply.h"

#include <fmt/format.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <vector>

#include "core/log.h"
#include "hub/git/git_util.h"
#include "hub/git/object_check.h"
#include "hub/git/pktline.h"
#include "hub/git/receive_pack.h"

namespace skyport::hub {

namespace fs = std::filesystem;

struct PushSession::Impl {
  Impl(RepoStore* s, std::string a, std::function<bool(const std::string&, const std::string&)> f, PushLimits l)
      : store(s), app(std::move(a)), allow_non_ff(std::move(f)), limits(l) {}

  RepoStore* store;
  std::string app;
  std::function<bool(const std::string&, const std::string&)> allow_non_ff;
  const PushLimits limits;

  pkt::Decoder decoder;
  std::vector<std::string> payloads;
  uint64_t command_lines = 0;          // all of them, also those past the limit (not kept)
  uint64_t command_bytes = 0;
  bool commands_done = false;
  PushCommands request;

  std::string qdir;                    // quarantine "objects" dir; its pack/ holds the new pack
  GitPtr<git_repository> base_repo;    // thin-pack bases come from here
  GitPtr<git_odb> base_odb;
  GitPtr<git_indexer> indexer;
  git_indexer_progress stats{};
  std::unique_ptr<PackScanner> scanner;  // sees every pack byte before the indexer
  const std::atomic<bool>* stop = nullptr;
  PushReplicator* replicator = nullptr;
  std::string pack_name;               // "pack-<name>" once committed with objects in it
  std::string unpack_error;            // first pack failure; later bytes are drained
  std::string refused_by;              // PushOutcome::refused_by
  std::vector<std::string> fsck_messages;  // band-2 lines for an fsck refusal

  // Bytes of command lines a push may send: plenty for max_refs real ref names.
  uint64_t MaxCommandBytes() const { return uint64_t{limits.max_refs} * 4096 + 65536; }
  Status FeedCommands(std::string_view bytes);
  void FeedPack(std::string_view bytes);
  Status StartIndexer();
  void CommitPack();
  void FsckPack();
  std::vector<RefUpdate> Apply(std::vector<std::string>* messages);
  Status CheckCommand(git_repository* repo, const PushCommand& c);
  Status StorePack(git_repository* repo);
};

PushSession::PushSession(RepoStore* store, std::string app,
                         std::function<bool(const std::string&, const std::string&)> allow_non_ff, PushLimits limits)
    : impl_(std::make_unique<Impl>(store, std::move(app), std::move(allow_non_ff), limits)) {}

PushSession::~PushSession() {
  impl_->indexer.reset();  // closes its temp files before the directory goes
  impl_->scanner.reset();
  if (!impl_->qdir.empty()) {
    std::error_code ec;
    fs::remove_all(impl_->qdir, ec);
  }
}

void PushSession::set_stop_flag(const std::atomic<bool>* stop) { impl_->stop = stop; }
void PushSession::set_replicator(PushReplicator* replicator) { impl_->replicator = replicator; }

Status PushSession::Feed(std::string_view bytes) {
  if (!impl_->commands_done) return impl_->FeedCommands(bytes);
  impl_->FeedPack(bytes);
  return Status::Ok();
}

Status PushSession::Impl::FeedCommands(std::string_view bytes) {
  decoder.Feed(bytes);
  while (true) {
    auto next = decoder.Next();
    if (!next.ok()) return next.status();
    if (!next->has_value()) return Status::Ok();
    pkt::Packet& p = **next;
    if (!p.flush) {
      // Past the limit, lines are counted but not kept: the report answers the
      // first max_refs, the client marks the rest as not reported.
      ++command_lines;
      command_bytes += p.payload.size();
      if (command_lines <= limits.max_refs && command_bytes <= MaxCommandBytes()) payloads.push_back(std::move(p.payload));
      continue;
    }
    commands_done = true;
    auto parsed = ParseCommands(payloads);
    if (!parsed.ok()) return parsed.status();
    request = std::move(*parsed);
    if (command_lines > limits.max_refs || command_bytes > MaxCommandBytes()) {
      unpack_error = fmt::format("push updates {} refs ({} bytes of commands); the hub's limit is {} refs per push",
                                 command_lines, command_bytes, limits.max_refs);
      refused_by = "refs";
    }
    std::string rest = decoder.TakeRest();
    if (!rest.empty()) FeedPack(rest);
    return Status::Ok();
  }
}

void PushSession::Impl::FeedPack(std::string_view bytes) {
  if (!unpack_error.empty() || bytes.empty()) return;
  if (request.commands.empty()) {
    unpack_error = "pack data without commands";
    return;
  }
  if (!indexer) {
    if (Status s = StartIndexer(); !s.ok()) {
      unpack_error = s.message();
      return;
    }
  }
  if (Status s = scanner->Feed(bytes); !s.ok()) {
    unpack_error = s.message();
    if (scanner->bound() != PackBound::kNone) refused_by = std::string(PackBoundName(scanner->bound()));
    return;
  }
  if (git_indexer_append(indexer.get(), bytes.data(), bytes.size(), &stats) != 0) {
    unpack_error = GitStatus(-1, "index pack").message();
  }
}

Status PushSession::Impl::StartIndexer() {
  std::error_code ec;
  fs::create_directories(store->IncomingDir(), ec);
  std::string tmpl = store->IncomingDir() + "/" + app + "-XXXXXX";
  if (!mkdtemp(tmpl.data())) return Status::Internal("cannot create a quarantine directory");
  qdir = tmpl;
  fs::create_directories(qdir + "/pack", ec);
  if (ec) return Status::Internal("quarantine: " + ec.message());
  // Without the repository's odb the indexer cannot complete thin packs.
  if (auto repo = OpenBare(store->RepoPath(app)); repo.ok()) {
    base_repo = std::move(*repo);
    git_odb* odb = nullptr;
    if (git_repository_odb(&odb, base_repo.get()) == 0) base_odb.reset(odb);
  }
  git_indexer_options o = GIT_INDEXER_OPTIONS_INIT;
  o.verify = 1;  // connectivity: every object the pack references is in it or in the repo
  if (stop) {
    o.progress_cb = [](const git_indexer_progress*, void* flag) {
      return static_cast<const std::atomic<bool>*>(flag)->load() ? -1 : 0;
    };
    o.progress_cb_payload = const_cast<std::atomic<bool>*>(stop);
  }
  git_indexer* idx = nullptr;
  if (int rc = git_indexer_new(&idx, (qdir + "/pack").c_str(), 0, base_odb.get(), &o); rc != 0) {
    return GitStatus(rc, "indexer");
  }
  indexer.reset(idx);
  git_odb* odb = base_odb.get();
  scanner = std::make_unique<PackScanner>(limits.pack, [odb](std::string_view raw) {
    git_oid oid;
    return odb != nullptr && raw.size() == GIT_OID_RAWSZ &&
           git_oid_fromraw(&oid, reinterpret_cast<const unsigned char*>(raw.data())) == 0 &&
           git_odb_exists(odb, &oid) == 1;
  });
  return Status::Ok();
}

void PushSession::Impl::CommitPack() {
  if (!indexer || !unpack_error.empty()) return;
  // Deltas are resolved in the commit: the scanner must have seen the whole pack.
  if (Status s = scanner->Finish(); !s.ok()) {
    unpack_error = s.message();
    return;
  }
  if (git_indexer_commit(indexer.get(), &stats) != 0) {
    unpack_error = GitStatus(-1, "index pack").message();
    return;
  }
  if (stats.total_objects > 0) pack_name = std::string("pack-") + git_indexer_name(indexer.get());
  indexer.reset();
  base_odb.reset();
  base_repo.reset();
  if (!pack_name.empty()) FsckPack();
}

namespace {

int CollectOid(const git_oid* id, void* payload) {
  static_cast<std::vector<git_oid>*>(payload)->push_back(*id);
  return 0;
}

}  // namespace

// receive.fsckObjects: every tree, commit and tag of the new pack (thin-pack
// bases the indexer appended included) against git's fsck checks.
void PushSession::Impl::FsckPack() {
  git_odb* raw_odb = nullptr;
  git_odb_backend* backend = nullptr;
  if (git_odb_new(&raw_odb) != 0) {
    unpack_error = GitStatus(-1, "fsck").message();
    return;
  }
  GitPtr<git_odb> odb(raw_odb);
  std::string idx_path = qdir + "/pack/" + pack_name + ".idx";
  if (git_odb_backend_one_pack(&backend, idx_path.c_str()) != 0 || git_odb_add_backend(odb.get(), backend, 1) != 0) {
    unpack_error = GitStatus(-1, "fsck: open pack").message();
    return;
  }
  std::vector<git_oid> ids;
  if (git_odb_foreach(odb.get(), CollectOid, &ids) != 0) {
    unpack_error = GitStatus(-1, "fsck: list objects").message();
    return;
  }
  for (const git_oid& id : ids) {
    size_t len = 0;
    git_object_t type = GIT_OBJECT_INVALID;
    if (git_odb_read_header(&len, &type, odb.get(), &id) != 0) {
      unpack_error = GitStatus(-1, "fsck: read " + OidHex(id)).message();
      return;
    }
    if (type != GIT_OBJECT_TREE && type != GIT_OBJECT_COMMIT && type != GIT_OBJECT_TAG) continue;
    git_odb_object* obj = nullptr;
    if (git_odb_read(&obj, odb.get(), &id) != 0) {
      unpack_error = GitStatus(-1, "fsck: read " + OidHex(id)).message();
      return;
    }
    std::string_view body(static_cast<const char*>(git_odb_object_data(obj)), git_odb_object_size(obj));
    std::vector<FsckIssue> issues = type == GIT_OBJECT_TREE     ? CheckTree(body)
                                    : type == GIT_OBJECT_COMMIT ? CheckCommit(body)
                                                                : CheckTag(body);
    git_odb_object_free(obj);
    for (const FsckIssue& i : issues) {
      // git's own words, so the pusher can look them up (git help fsck, FSCK MESSAGES).
      if (fsck_messages.size() < 20) {
        fsck_messages.push_back(fmt::format("error: object {}: {}: {}", OidHex(id), i.id, i.message));
      }
      if (unpack_error.empty()) {
        unpack_error = fmt::format("fsck error in packed object {}: {}: {}", OidHex(id), i.id, i.message);
      }
    }
  }
  if (!unpack_error.empty()) {
    fsck_messages.push_back("fatal: fsck error in packed object");
    refused_by = "fsck";
  }
}

Result<PushOutcome> PushSession::Finish() {
  Impl& s = *impl_;
  if (!s.commands_done) {
    return Status::InvalidArgument(s.payloads.empty() && s.decoder.buffered() == 0
                                       ? "empty receive-pack body"
                                       : "body ended inside the command list (no flush packet)");
  }
  PushOutcome out;
  out.event.app = s.app;
  if (s.request.commands.empty()) return out;  // git's "0000" probe before a large chunked push

  s.CommitPack();
  std::vector<std::string> messages;
  if (!s.unpack_error.empty()) {
    for (const PushCommand& c : s.request.commands) {
      out.event.updates.push_back({c.ref, c.old_id, c.new_id, false, "unpacker error"});
    }
    messages = s.fsck_messages;
    out.refused_by = s.refused_by;
    out.unpack_error = s.unpack_error;
    // The server counts and logs refusals (rate-limited).
  } else {
    out.event.updates = s.Apply(&messages);
  }
  // An unpack error must not carry a newline or it would end the pkt-line early.
  std::string unpack = s.unpack_error.empty() ? "ok" : s.unpack_error;
  for (char& ch : unpack) {
    if (ch == '\n' || ch == '\r') ch = ' ';
  }
  out.body = BuildReport(s.request, unpack, out.event.updates, messages);
  out.request = s.request;
  out.messages = std::move(messages);
  return out;
}

std::vector<RefUpdate> PushSession::Impl::Apply(std::vector<std::string>* messages) {
  std::vector<RefUpdate> updates;
  std::lock_guard<std::mutex> lock(store->WriteLock(app));
  const std::string path = store->RepoPath(app);
  bool created = false;
  auto repo = OpenBare(path);
  if (!repo.ok() && repo.status().code() == Code::kNotFound) {
    repo = CreateBare(path);
    created = repo.ok();
    if (created) log::Info("created repository", {{"app", app}});
  }
  if (!repo.ok()) {
    for (const PushCommand& c : request.commands) updates.push_back({c.ref, c.old_id, c.new_id, false, "repository unavailable"});
    log::Error("push: cannot open repository", {{"app", app}, {"error", repo.status().message()}});
    return updates;
  }
  git_odb* odb_raw = nullptr;
  git_repository_odb(&odb_raw, repo->get());
  GitPtr<git_odb> odb(odb_raw);
  // The quarantine is visible to the checks below, but only to this handle.
  if (!pack_name.empty()) git_odb_add_disk_alternate(odb.get(), qdir.c_str());

  bool any_ok = false;
  for (const PushCommand& c : request.commands) {
    RefUpdate u{c.ref, c.old_id, c.new_id, true, ""};
    if (Status st = CheckCommand(repo->get(), c); !st.ok()) {
      u.ok = false;
      u.error = st.message();
      if (u.error == "non-fast-forward") {
        messages->push_back(fmt::format("error: {} is not a fast-forward of the hub's copy; pull first", c.ref));
      }
    }
    any_ok |= u.ok;
    updates.push_back(std::move(u));
  }
  if (any_ok && replicator) {
    // Before anything lands here: a push the standbys could not take is not acknowledged.
    ReplicaPush push{app, pack_name.empty() ? "" : qdir + "/pack/" + pack_name + ".pack", {}};
    for (const RefUpdate& u : updates)
      if (u.ok) push.commands.push_back({u.old_id, u.new_id, u.ref});
    if (Status st = replicator->Replicate(push); !st.ok()) {
      any_ok = false;
      for (RefUpdate& u : updates)
        if (u.ok) u = {u.ref, u.old_id, u.new_id, false, st.message()};
      messages->push_back("error: push not acknowledged: " + st.message());
    }
  }
  if (any_ok && !pack_name.empty()) {
    if (Status st = StorePack(repo->get()); !st.ok()) {
      log::Error("push: cannot store pack", {{"app", app}, {"error", st.message()}});
      for (RefUpdate& u : updates) {
        if (u.ok) u = {u.ref, u.old_id, u.new_id, false, "failed to store objects"};
      }
    }
    git_odb_refresh(odb.get());
  }
  for (RefUpdate& u : updates) {
    if (!u.ok) continue;
    git_oid old_oid, new_oid;
    ParseOid(u.old_id, &old_oid);
    ParseOid(u.new_id, &new_oid);
    int rc = 0;
    git_reference* r = nullptr;
    if (u.new_id == kZeroId) {
      rc = git_reference_lookup(&r, repo->get(), u.ref.c_str());
      if (rc == 0) rc = git_reference_delete(r);  // fails if the ref moved since lookup
    } else if (u.old_id == kZeroId) {
      rc = git_reference_create(&r, repo->get(), u.ref.c_str(), &new_oid, 0, "push");
    } else {
      rc = git_reference_create_matching(&r, repo->get(), u.ref.c_str(), &new_oid, 1, &old_oid, "push");
    }
    git_reference_free(r);
    if (rc != 0) {
      log::Warn("push: ref update failed", {{"app", app}, {"ref", u.ref}, {"error", GitStatus(rc, "").message()}});
      u.ok = false;
      u.error = "failed to update ref";
    }
  }
  size_t ok_count = 0;
  for (const RefUpdate& u : updates) ok_count += u.ok;
  if (created && ok_count == 0) {
    std::error_code ec;
    fs::remove_all(path, ec);  // nothing landed: do not leave an empty repository behind
  }
  log::Info("push", {{"app", app}, {"accepted", ok_count}, {"refused", updates.size() - ok_count},
                     {"objects", static_cast<uint64_t>(stats.total_objects)},
                     {"thin_bases", static_cast<uint64_t>(stats.local_objects)}});
  return updates;
}

Status PushSession::Impl::CheckCommand(git_repository* repo, const PushCommand& c) {
  auto refuse = [](std::string why) { return Status::FailedPrecondition(std::move(why)); };
  int valid = 0;
  if (git_reference_name_is_valid(&valid, c.ref.c_str()) != 0 || !valid) return refuse("funny refname");
  std::string current(kZeroId);
  git_reference* ref = nullptr;
  if (git_reference_lookup(&ref, repo, c.ref.c_str()) == 0) {
    GitPtr<git_reference> owned(ref);
    if (git_reference_type(ref) != GIT_REFERENCE_DIRECT) return refuse("symbolic ref");
    current = OidHex(*git_reference_target(ref));
  }
  if (c.old_id != current) return refuse(c.old_id == kZeroId ? "already exists" : "stale info");
  if (c.new_id == kZeroId) return Status::Ok();

  git_oid new_oid;
  ParseOid(c.new_id, &new_oid);
  git_object* obj = nullptr;
  if (git_object_lookup(&obj, repo, &new_oid, GIT_OBJECT_ANY) != 0) return refuse("missing necessary objects");
  GitPtr<git_object> owned(obj);
  bool is_branch = c.ref.rfind("refs/heads/", 0) == 0;
  if (is_branch && git_object_type(obj) != GIT_OBJECT_COMMIT) return refuse("branch must point to a commit");
  if (c.old_id == kZeroId || c.old_id == c.new_id) return Status::Ok();

  // Moving an existing ref: branches may only fast-forward, other refs (tags) not move at all,
  // unless the policy says so.
  bool ff = false;
  if (is_branch) {
    git_oid old_oid;
    ParseOid(c.old_id, &old_oid);
    ff = git_graph_descendant_of(repo, &new_oid, &old_oid) == 1;
  }
  if (!ff && !(allow_non_ff && allow_non_ff(app, c.ref))) return refuse("non-fast-forward");
  return Status::Ok();
}

Status PushSession::Impl::StorePack(git_repository* repo) {
  std::string dest = std::string(git_repository_path(repo)) + "objects/pack/";
  std::error_code ec;
  fs::create_directories(dest, ec);
  // The .idx makes a pack visible to readers, so it moves last.
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(qdir + "/pack", ec)) {
    std::string n = e.path().filename().string();
    if (n.rfind(pack_name + ".", 0) == 0 && n != pack_name + ".idx") names.push_back(n);
  }
  names.push_back(pack_name + ".idx");
  for (const std::string& n : names) {
    fs::rename(qdir + "/pack/" + n, dest + n, ec);
    if (ec) return Status::Internal(fmt::format("move {}: {}", n, ec.message()));
  }
  return Status::Ok();
}

Result<std::vector<std::pair<std::string, std::string>>> ListRefs(const std::string& path) {
  std::vector<std::pair<std::string, std::string>> refs;
  auto repo = OpenBare(path);
  if (!repo.ok()) {
    if (repo.status().code() == Code::kNotFound) return refs;
    return repo.status();
  }
  git_reference_iterator* it = nullptr;
  if (int rc = git_reference_iterator_new(&it, repo->get()); rc != 0) return GitStatus(rc, "list refs");
  GitPtr<git_reference_iterator> owned(it);
  git_reference* ref = nullptr;
  while (git_reference_next(&ref, it) == 0) {
    GitPtr<git_reference> r(ref);
    // Symbolic refs (HEAD) are not advertised to a pusher, as git does without HEAD.
    if (git_reference_type(ref) == GIT_REFERENCE_DIRECT) {
      refs.emplace_back(OidHex(*git_reference_target(ref)), git_reference_name(ref));
    }
  }
  std::sort(refs.begin(), refs.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  return refs;
}

}  // namespace skyport::hub
