/** How llama.cpp (CUDA, Vulkan, CPU allocators) says it ran out of memory. */
export const OUT_OF_MEMORY = /out of memory|insufficient memory|failed to allocate|cudaMalloc failed|ErrorOutOfDeviceMemory|std::bad_alloc|\bOOM\b/i;
/** llama.cpp refusing a request's JSON schema or grammar (llama.node throws it; llama-server answers 400 with it). */
export const GRAMMAR_REJECTED = /failed to parse grammar|JSON schema conversion failed|Unable to generate parser|Failed to initialize samplers/i;
