#include "plugins/storage-common/fast_args.hpp"

#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <algorithm>
#include <cstdint>
#include <limits>

#include "host/store/records.hpp"

namespace weft::storage {

namespace {

using store::ExecStatus;

// A SAX handler that fills CommitArgs or CreateArgs while RapidJSON's reader validates the text (syntax,
// UTF-8) and that makes Json::parse's own checks (nesting depth, duplicate keys) along the way. Any deviation
// from the plain shape returns false, which stops the parse: decline.
//
// Documents are taken as the exact text the caller sent (it is valid JSON, checked as above), not
// re-serialized: the host sends compact text, so this is what the general path would store too.
// Positions come from the input stream: in RapidJSON's iterative parser StartObject/StartArray
// and EndObject/EndArray are called with the stream at the bracket, scalars and keys right after
// their last character.
class ArgsReader : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, ArgsReader> {
 public:
  ArgsReader(std::string_view text, const rapidjson::MemoryStream& in, size_t max_depth, CommitArgs* commit,
             CreateArgs* create)
      : text_(text), in_(in), max_depth_(max_depth), out_(commit ? *commit : unused_), create_(create) {
    if (create_) {  // missing members keep what `create` holds (NewExecution's defaults)
      create_version_ = create_->ne.workflow_version;
      create_deadline_ = create_->ne.deadline_at_ms;
      create_lease_ms_ = create_->ne.lease_ms;
    }
  }

  bool Null() {
    switch (want_.kind) {
      case Want::Runs:  // a null list is an empty list
      case Want::Logs:
      case Want::Events:
      case Want::Update:  // "execution": null is no update
      case Want::Status:  // null status: not set
        return done_value();
      default:
        return scalar();
    }
  }
  bool Bool(bool b) {
    if (want_.kind == Want::Bool) {
      *want_.flag = b;
      return done_value();
    }
    return scalar();
  }
  bool Int(int i) { return integer(i); }
  bool Uint(unsigned u) { return integer(u); }
  bool Int64(int64_t i) { return integer(i); }
  bool Uint64(uint64_t u) {
    // Json::parse makes a double of what does not fit int64: not an integer member.
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return scalar();
    return integer(static_cast<long long>(u));
  }
  bool Double(double) { return scalar(); }
  bool String(const char* s, rapidjson::SizeType len, bool) {
    if (want_.kind == Want::Str) {
      want_.str->assign(s, len);
      return done_value();
    }
    if (want_.kind == Want::Status) {
      auto st = store::exec_status_from(std::string_view(s, len));
      if (!st) return false;
      *want_.status = *st;
      return done_value();
    }
    return scalar();
  }

  bool StartObject() {
    if (!push_depth()) return false;
    Frame f{Frame::Other, key_spans_.size(), keys_.size(), nullptr, 0};
    if (frames_.empty()) {
      f.kind = create_ ? Frame::Create : Frame::Root;
      root_object_ = true;
    } else if (opaque()) {
      start_opaque(f);
    } else {
      switch (want_.kind) {
        case Want::Lease:
          f.kind = Frame::Lease;
          break;
        case Want::Update:
          f.kind = Frame::Update;
          out_.execution.emplace();
          break;
        case Want::Element:
          if (frames_.back().kind == Frame::Runs) {
            f.kind = Frame::Run;
            out_.runs.emplace_back();
            out_.runs.back().output = out_.runs.back().error = out_.runs.back().park = "null";
          } else if (frames_.back().kind == Frame::Logs) {
            f.kind = Frame::Log;
            out_.logs.emplace_back();
            out_.logs.back().input = out_.logs.back().output = out_.logs.back().error = "null";
          } else {
            f.kind = Frame::Event;
            out_.events.emplace_back();
            out_.events.back().data = "null";
          }
          break;
        default:
          return false;  // an object where a string, integer, list, ... belongs
      }
    }
    frames_.push_back(f);
    want_ = Want{};
    return true;
  }
  bool Key(const char* s, rapidjson::SizeType len, bool) {
    key_spans_.emplace_back(keys_.size(), len);
    keys_.append(s, len);
    after_key_ = in_.Tell();
    want_ = member(frames_.back().kind, std::string_view(s, len));
    return want_.kind != Want::Decline;
  }
  bool EndObject(rapidjson::SizeType) {
    if (!unique_keys(frames_.back())) return false;
    return pop();
  }
  bool StartArray() {
    if (!push_depth()) return false;
    Frame f{Frame::Other, key_spans_.size(), keys_.size(), nullptr, 0};
    if (opaque()) {
      start_opaque(f);
    } else {
      switch (want_.kind) {
        case Want::Runs:
          f.kind = Frame::Runs;
          break;
        case Want::Logs:
          f.kind = Frame::Logs;
          break;
        case Want::Events:
          f.kind = Frame::Events;
          break;
        default:
          return false;
      }
    }
    frames_.push_back(f);
    want_ = frames_.back().kind == Frame::Other ? Want{} : Want{Want::Element};
    return true;
  }
  bool EndArray(rapidjson::SizeType) { return pop(); }

  // The text was an object (the arguments of an operation always are).
  bool root_object() const { return root_object_; }

 private:
  struct Frame {
    enum Kind : uint8_t { Root, Lease, Runs, Run, Logs, Log, Events, Event, Update, Create, Other } kind;
    size_t first_key;  // this object's keys: key_spans_[first_key..]
    size_t keys_size;  // keys_ before them
    std::string* doc;  // Other frame that opened a document: where its text goes
    size_t doc_start;
  };
  // What the next value is for.
  struct Want {
    enum Kind : uint8_t {
      None,
      Skip,
      Doc,
      Str,
      Int,
      OptInt,
      Bool,
      Status,
      Lease,
      Runs,
      Logs,
      Events,
      Update,
      Element,
      Decline  // a member only the general path reads: stop
    } kind = None;
    std::string* str = nullptr;  // Str, Doc
    long long* num = nullptr;    // Int
    std::optional<long long>* opt_num = nullptr;
    bool* flag = nullptr;
    std::optional<ExecStatus>* status = nullptr;
  };
  static Want str(std::string& s) {
    Want w{Want::Str};
    w.str = &s;
    return w;
  }
  static Want num(long long& n) {
    Want w{Want::Int};
    w.num = &n;
    return w;
  }
  static Want doc(std::string& s) {
    Want w{Want::Doc};
    w.str = &s;
    return w;
  }

  // The member `key` of a record being read.
  Want member(Frame::Kind kind, std::string_view key) {
    switch (kind) {
      case Frame::Root:
        if (key == "execution_id") return str(out_.execution_id);
        if (key == "lease") return Want{Want::Lease};
        if (key == "runs") return Want{Want::Runs};
        if (key == "logs") return Want{Want::Logs};
        if (key == "events") return Want{Want::Events};
        if (key == "execution") return Want{Want::Update};
        // Schema v8 members: the general path reads them (see fast_args.hpp).
        if (key == "requests" || key == "consumed_requests" || key == "spawn") return Want{Want::Decline};
        break;
      case Frame::Lease:
        if (key == "owner") return str(out_.lease.owner);
        if (key == "epoch") return num(lease_epoch_);
        break;
      case Frame::Run: {
        CommitArgs::Run& r = out_.runs.back();
        if (key == "execution_id") return str(ignored_);  // type-checked, the commit's id rules
        if (key == "node_key") return str(r.node_key);
        if (key == "node_id") return str(r.node_id);
        if (key == "scope") return str(r.scope);
        if (key == "status") return str(r.status);
        if (key == "attempt") return num(r.attempt);
        if (key == "output") return doc(r.output);
        if (key == "error") return doc(r.error);
        if (key == "park") return doc(r.park);
        if (key == "started_at_ms") return num(r.started_at_ms);
        if (key == "finished_at_ms") return num(r.finished_at_ms);
        break;
      }
      case Frame::Log: {
        CommitArgs::Log& l = out_.logs.back();
        if (key == "execution_id") return str(ignored_);
        if (key == "node_key") return str(l.node_key);
        if (key == "node_id") return str(l.node_id);
        if (key == "attempt") return num(l.attempt);
        if (key == "status") return str(l.status);
        if (key == "started_at_ms") return num(l.started_at_ms);
        if (key == "finished_at_ms") return num(l.finished_at_ms);
        if (key == "duration_us") return num(l.duration_us);
        if (key == "input") return doc(l.input);
        if (key == "output") return doc(l.output);
        if (key == "error") return doc(l.error);
        if (key == "lines") return str(l.lines);
        break;
      }
      case Frame::Event: {
        CommitArgs::Event& e = out_.events.back();
        if (key == "execution_id") return str(ignored_);
        if (key == "seq") return num(e.seq);
        if (key == "type") return str(e.type);
        if (key == "data") return doc(e.data);
        if (key == "ts_ms") return num(e.ts_ms);
        break;
      }
      case Frame::Update: {
        CommitArgs::Update& u = *out_.execution;
        Want w;
        if (key == "status") {
          w.kind = Want::Status;
          w.status = &u.status;
          return w;
        }
        if (key == "output") return doc(u.output.emplace());
        if (key == "error") return doc(u.error.emplace());
        w.kind = Want::OptInt;
        if (key == "wake_at_ms") w.opt_num = &u.wake_at_ms;
        if (key == "started_at_ms") w.opt_num = &u.started_at_ms;
        if (key == "finished_at_ms") w.opt_num = &u.finished_at_ms;
        if (w.opt_num) return w;
        if (key == "release_lease") {
          w.kind = Want::Bool;
          w.flag = &u.release_lease;
          return w;
        }
        break;
      }
      case Frame::Create: {
        store::NewExecution& ne = create_->ne;
        if (key == "id") return str(ne.id);
        if (key == "workflow_id") return str(ne.workflow_id);
        if (key == "workflow_version") return num(create_version_);
        if (key == "owner_id") return str(ne.owner_id);
        if (key == "definition") return doc(create_->definition);
        if (key == "input") return doc(create_->input);
        if (key == "idempotency_key") return str(ne.idempotency_key);
        if (key == "mode") return str(ne.mode);
        if (key == "deadline_at_ms") return num(create_deadline_);
        if (key == "claim_owner") return str(ne.claim_owner);
        if (key == "lease_ms") return num(create_lease_ms_);
        if (key == "omit_sent_documents") {
          Want w{Want::Bool};
          w.flag = &create_->omit_sent_documents;
          return w;
        }
        break;
      }
      default:  // inside a document or an unknown member: keys only need checking
        return Want{Want::None};
    }
    return Want{Want::Skip};  // unknown member: ignored, but still checked
  }

  // Inside a document or an unknown member (or about to start one).
  bool opaque() const {
    return want_.kind == Want::Doc || want_.kind == Want::Skip ||
           (!frames_.empty() && frames_.back().kind == Frame::Other);
  }
  void start_opaque(Frame& f) {
    if (want_.kind == Want::Doc) {
      f.doc = want_.str;
      f.doc_start = in_.Tell();  // at the opening bracket
    }
  }
  bool integer(long long v) {
    if (want_.kind == Want::Int) {
      *want_.num = v;
      return done_value();
    }
    if (want_.kind == Want::OptInt) {
      *want_.opt_num = v;
      return done_value();
    }
    return scalar();
  }
  // A scalar that is not one of the typed members handled by the caller.
  bool scalar() {
    switch (want_.kind) {
      case Want::None:  // inside an opaque value
      case Want::Skip:
        return done_value();
      case Want::Doc: {
        // The value runs from after the key's colon to here.
        size_t start = after_key_;
        while (start < text_.size() && (text_[start] == ' ' || text_[start] == '\t' || text_[start] == '\n' ||
                                        text_[start] == '\r' || text_[start] == ':')) {
          ++start;
        }
        want_.str->assign(text_.substr(start, in_.Tell() - start));
        return done_value();
      }
      default:
        return false;  // wrong type for a typed member: decline
    }
  }
  bool done_value() {
    // Elements of a record list keep wanting records; object members want their key first.
    want_ = Want{};
    if (!frames_.empty()) {
      const Frame::Kind k = frames_.back().kind;
      if (k == Frame::Runs || k == Frame::Logs || k == Frame::Events) want_.kind = Want::Element;
    }
    return true;
  }
  bool push_depth() { return frames_.size() < max_depth_; }
  bool pop() {
    const Frame f = frames_.back();
    frames_.pop_back();
    key_spans_.resize(f.first_key);
    keys_.resize(f.keys_size);
    if (f.kind == Frame::Lease) out_.lease.epoch = lease_epoch_;
    if (f.kind == Frame::Create) {
      create_->ne.workflow_version = create_version_;
      create_->ne.deadline_at_ms = create_deadline_;
      create_->ne.lease_ms = create_lease_ms_;
    }
    if (f.doc) f.doc->assign(text_.substr(f.doc_start, in_.Tell() + 1 - f.doc_start));
    return done_value();
  }
  bool unique_keys(const Frame& f) const {
    const size_t n = key_spans_.size() - f.first_key;
    if (n < 2) return true;
    auto name = [&](size_t i) {
      const auto& [pos, len] = key_spans_[f.first_key + i];
      return std::string_view(keys_).substr(pos, len);
    };
    if (n <= 16) {
      for (size_t a = 0; a < n; ++a) {
        for (size_t b = a + 1; b < n; ++b) {
          if (name(a) == name(b)) return false;
        }
      }
      return true;
    }
    std::vector<std::string_view> names;
    names.reserve(n);
    for (size_t i = 0; i < n; ++i) names.push_back(name(i));
    std::sort(names.begin(), names.end());
    return std::adjacent_find(names.begin(), names.end()) == names.end();
  }

  std::string_view text_;
  const rapidjson::MemoryStream& in_;
  size_t max_depth_;
  CommitArgs unused_;  // out_ when reading create_execution's arguments
  CommitArgs& out_;
  CreateArgs* create_;
  std::vector<Frame> frames_;
  std::string keys_;  // the keys of the open objects, back to back
  std::vector<std::pair<size_t, size_t>> key_spans_;
  size_t after_key_ = 0;
  Want want_;
  long long lease_epoch_ = 0;
  // NewExecution's integers are int64_t; read as long long, stored when the object closes.
  long long create_version_ = 0, create_deadline_ = 0, create_lease_ms_ = 0;
  std::string ignored_;
  bool root_object_ = false;
};

}  // namespace

CommitArgs to_commit_args(const store::Commit& c) {
  CommitArgs a;
  a.execution_id = c.execution_id;
  a.lease = c.lease;
  a.runs.reserve(c.runs.size());
  for (const auto& r : c.runs) {
    a.runs.push_back({r.node_key, r.node_id, r.scope, r.status, r.attempt, store::to_json_text(r.output),
                      store::to_json_text(r.error), store::to_json_text(r.park), r.started_at_ms,
                      r.finished_at_ms});
  }
  a.logs.reserve(c.logs.size());
  for (const auto& l : c.logs) {
    a.logs.push_back({l.node_key, l.node_id, l.status, l.attempt, l.started_at_ms, l.finished_at_ms,
                      l.duration_us, store::to_json_text(l.input), store::to_json_text(l.output),
                      store::to_json_text(l.error), l.lines});
  }
  a.events.reserve(c.events.size());
  for (const auto& e : c.events) a.events.push_back({e.seq, e.type, store::to_json_text(e.data), e.ts_ms});
  if (c.execution) {
    const store::ExecutionUpdate& u = *c.execution;
    CommitArgs::Update up;
    up.status = u.status;
    if (u.output) up.output = store::to_json_text(*u.output);
    if (u.error) up.error = store::to_json_text(*u.error);
    if (u.wake_at_ms) up.wake_at_ms = *u.wake_at_ms;
    if (u.started_at_ms) up.started_at_ms = *u.started_at_ms;
    if (u.finished_at_ms) up.finished_at_ms = *u.finished_at_ms;
    up.release_lease = u.release_lease;
    a.execution = std::move(up);
  }
  a.requests = c.requests;
  a.consumed_requests = c.consumed_requests;
  a.spawn = c.spawn;
  return a;
}

CreateArgs to_create_args(store::NewExecution ne, bool omit_sent_documents) {
  CreateArgs a;
  a.definition = store::to_json_text(ne.definition);
  a.input = store::to_json_text(ne.input);
  a.ne = std::move(ne);
  a.omit_sent_documents = omit_sent_documents;
  return a;
}

namespace {

// One pass of the reader over `text`, for exactly one of commit / create.
bool read_args(std::string_view text, CommitArgs* commit, CreateArgs* create) {
  const JsonParseLimits limits = store::storage_json_limits();
  // Json::parse refuses these before parsing.
  if (text.size() > limits.max_bytes || text.find('\0') != std::string_view::npos) return false;
  rapidjson::MemoryStream in(text.data(), text.size());
  ArgsReader reader(text, in, limits.max_depth, commit, create);
  rapidjson::Reader parser;
  // Json::parse's flags, so that the same texts are accepted. Validating the encoding looks at
  // the bytes inside strings one character at a time; all-ASCII text (the common case) is valid
  // UTF-8 anyway, and one quick pass over it finds that out.
  constexpr unsigned kFlags = rapidjson::kParseIterativeFlag | rapidjson::kParseFullPrecisionFlag;
  const bool ascii = std::all_of(text.begin(), text.end(), [](char c) { return (c & 0x80) == 0; });
  rapidjson::ParseResult parsed =
      ascii ? parser.Parse<kFlags>(in, reader)
            : parser.Parse<kFlags | rapidjson::kParseValidateEncodingFlag>(in, reader);
  return !parsed.IsError() && reader.root_object();
}

}  // namespace

bool decode_commit_args(std::string_view text, CommitArgs& out) {
  return read_args(text, &out, nullptr);
}

bool decode_create_args(std::string_view text, CreateArgs& out) {
  return read_args(text, nullptr, &out) && out.omit_sent_documents;
}

}  // namespace weft::storage
