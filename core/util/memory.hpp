#pragma once
// Hands freed heap memory back to the operating system.
namespace herald {

// After a large, temporary peak (loading resources: one file's TOML tree at
// a time, vectors that doubled while growing) the allocator keeps the freed
// pages for reuse, and they count as resident until it decays them (jemalloc:
// 10 s). Called after a load so the resident size reflects what is in use.
void release_free_memory();

}  // namespace herald
