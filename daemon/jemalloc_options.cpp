// jemalloc's options for heraldd, read at its first allocation (compiled
// in only when heraldd is linked with jemalloc; CMakeLists.txt). The
// MALLOC_CONF environment variable is read after this and overrides it.
//
// background_thread: jemalloc returns freed memory to the kernel ("decay",
// 10 s by default) only when some thread allocates or frees, on that
// thread. After a burst of bulk ingest an idle heraldd therefore kept its
// peak RSS for good (230-278 MB half a minute after 6 s of NDJSON ingest,
// against 83-84 MB with the option; README, Benchmarks, session 21), and
// under load the purging madvise() calls ran on the HTTP thread. One
// background thread ("jemalloc_bg_thd") does that work instead.
extern "C" {
// The symbol jemalloc looks up (declared in jemalloc.h as const char*).
extern const char* const malloc_conf;
const char* const malloc_conf = "background_thread:true,max_background_threads:1";
}
