// The arguments of the store's hot operations — commit (one per executed node) and
// create_execution (one per run) — in the form the SQL store writes them: every document
// (definition, input, output, error, park, data) as JSON text.
//
// They are decoded straight from the argument text when it has the plain shape the host sends:
// one pass of RapidJSON's SAX reader (which checks the syntax and the UTF-8), plus the checks
// Json::parse adds (nesting depth, duplicate keys), without building a Json tree; documents are
// kept as the text they arrived as. Anything else — malformed text, a member of the wrong type, a
// duplicate key — makes the fast decoder decline, and the caller takes the general path
// (Json::parse + store::from_json), which reports the precise error. Either way the same values
// reach the database (documents as equivalent JSON text: byte for byte the same for the compact
// text the host writes).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "host/store/store.hpp"

namespace weft::storage {

struct CommitArgs {
  struct Run {
    std::string node_key, node_id, scope, status;
    long long attempt = 0;
    std::string output, error, park;
    long long started_at_ms = 0, finished_at_ms = 0;
  };
  struct Log {
    std::string node_key, node_id, status;
    long long attempt = 0, started_at_ms = 0, finished_at_ms = 0, duration_us = 0;
    std::string input, output, error, lines;
  };
  struct Event {
    long long seq = 0;
    std::string type, data;
    long long ts_ms = 0;
  };
  struct Update {
    std::optional<store::ExecStatus> status;
    std::optional<std::string> output, error;
    std::optional<long long> wake_at_ms, started_at_ms, finished_at_ms;
    bool release_lease = false;
  };

  std::string execution_id;
  store::Lease lease;
  std::vector<Run> runs;
  std::vector<Log> logs;
  std::vector<Event> events;
  std::optional<Update> execution;
  // Schema v8 (store::Commit): rare (a park that asks a human, a resumption that consumed an
  // answer, an error workflow), so the text decoder declines commits that carry them and the
  // general path fills these.
  std::vector<store::HumanRequestRecord> requests;
  std::vector<std::string> consumed_requests;
  std::optional<store::NewExecution> spawn;
};

// create_execution's arguments: a NewExecution, plus "omit_sent_documents" (bool, an optional
// addition to the operation): the result may leave out the definition and input of an execution
// created by this call — the caller sent them and has them. PluginStore always sets it; without it
// the full record comes back, as before.
struct CreateArgs {
  store::NewExecution ne;  // decoded from text: definition and input stay null, see below
  std::string definition = "null", input = "null";  // as stored
  bool omit_sent_documents = false;
};

// From decoded records (the general path).
CommitArgs to_commit_args(const store::Commit& c);
CreateArgs to_create_args(store::NewExecution ne, bool omit_sent_documents);

// Straight from the argument text. false: not the plain case, take the general path (`out` is
// then unspecified). decode_commit_args declines commits with "requests", "consumed_requests" or
// "spawn" members. decode_create_args also declines unless omit_sent_documents is true (a
// result that echoes the documents needs them as Json values anyway).
bool decode_commit_args(std::string_view text, CommitArgs& out);
bool decode_create_args(std::string_view text, CreateArgs& out);

}  // namespace weft::storage
