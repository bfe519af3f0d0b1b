#pragma once
// remove_file_gradually: deletes a big file a few megabytes at a time.
//
// Why: on a filesystem mounted with online discard (ext4 `-o discard`, the
// default on many cloud images, this VM's included), unlinking a 64 MB
// journal segment issues one 64 MB discard, and the disk works it off before
// the flushes queued behind it: the journal's group commits, i.e. the 202s.
// After a checkpoint the accept p99 at 5 000 events/s went from ~5 ms to
// 11-30 ms here, with single stalls of 50-200 ms; remounted without discard,
// the same runs stayed at ~5 ms. Shrunk step by step, each step synced (so
// its discard is issued on its own, not merged with the next) with a pause
// between steps, the discards are small and commits pass between them.
//
// The file is first renamed to `<name>.removing` (and the directory synced),
// so a crash half way leaves a file that recovery deletes (remove_leftovers),
// never a cut-short segment or run under its real name. It sleeps: only for
// maintenance threads, and only for files nobody reads any more.
#include <filesystem>
#include <system_error>

namespace herald {

// Renames, shrinks and unlinks `path`. On an error after the rename the
// file is unlinked at once; the error is returned either way.
std::error_code remove_file_gradually(const std::filesystem::path& path);

// Deletes the `*.removing` files a crash left in `dir` (at startup); returns how many.
size_t remove_leftovers(const std::filesystem::path& dir);

}  // namespace herald
