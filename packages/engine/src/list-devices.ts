// Prints llama.cpp's view of the GPUs (Vulkan build) as JSON. Run as a child process by
// bindingGpus(): loading a GPU backend can abort on a broken driver, and must not take the worker.
import { getBackendDevicesInfo } from '@fugood/llama.node';

const devices = await getBackendDevicesInfo('vulkan').catch(() => []);
process.stdout.write(JSON.stringify(devices.filter((device) => device.type === 'gpu')));
