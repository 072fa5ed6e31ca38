// Helpers of the isolation layer that talk to the kernel directly: /proc scans, the per-uid
// sweep, slot locks, private temp dirs. Internal to sandbox/ (and its tests).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>

namespace weft::sandbox::detail {

// What is left of one uid: processes still running (or stopped) and zombies waiting for a parent
// to reap them. A process counts for a uid when its real, effective or saved uid is that uid
// (exactly the processes a kill() from that uid may signal).
struct UidPresence {
  int live = 0;
  int zombies = 0;
};

// Scans /proc once for every uid in [lo, hi]; uids with nothing left are absent from the map.
std::map<uid_t, UidPresence> scan_uids(uid_t lo, uid_t hi);

// SIGKILLs every process of `uid`: a forked helper takes the uid (and nothing else: no groups,
// no capabilities) and calls kill(-1, SIGKILL), which reaches exactly that uid's processes,
// atomically with respect to fork; repeated until a scan finds none running or budget_ms pass.
// Returns what is left (zombies are dead; their parent reaps them). Needs root.
UidPresence sweep_uid(uid_t uid, gid_t gid, int64_t budget_ms);

// An exclusive advisory lock on `dir`/uid-<uid>.lock so two Weft processes on one machine never
// hand out the same slot uid. Returns the descriptor (kept open while the slot is ours) or -1.
int lock_uid(const std::string& dir, uid_t uid, std::string& error);

// Creates `path` as a directory owned by root, mode `mode`, refusing symlinks and directories
// owned by anyone else. Parents must exist.
bool ensure_root_dir(const std::string& path, mode_t mode, std::string& error);

// A fresh private temp dir for one spawn in launcher-only mode: `path` is created 0700 and, when
// possible, a tmpfs of `size_bytes` is mounted on it (so the total, not only each file, is
// bounded); then it is given to uid:gid. `mounted` says whether the tmpfs is there.
bool make_private_tmp(const std::string& path, uid_t uid, gid_t gid, int64_t size_bytes, bool try_mount,
                      bool& mounted, std::string& error);

// Unmounts (when mounted) and deletes a private temp dir. Call only once no process of its uid
// is left: the tree is then nobody's to change under us.
void remove_private_tmp(const std::string& path, bool mounted);

// Launcher-only mode: removes what `uid` left at the top of the machine's world-writable
// directories (/tmp, /var/tmp, /dev/shm), so the next job on the slot does not find it. Call
// only once no process of the uid is left.
void remove_files_of_uid(uid_t uid);

// Directory of the running executable (for the default launcher path).
std::string self_exe_dir();

}  // namespace weft::sandbox::detail
