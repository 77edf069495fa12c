/** How llama.cpp (CUDA, Vulkan, CPU allocators) says it ran out of memory. */
export const OUT_OF_MEMORY = /out of memory|insufficient memory|failed to allocate|cudaMalloc failed|ErrorOutOfDeviceMemory|std::bad_alloc|\bOOM\b/i;
