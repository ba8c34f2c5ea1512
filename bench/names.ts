/** The synthetic federation every benchmark uses: 1,000 products, three holders, DeviceNames with `@` and `.`. */
export const BENCH_HOLDERS = ["iot-ap-southeast-1-1", "iot-eu-central-1-1", "iot-us-west-1-1"] as const;

export const benchProductKey = (p: number): string => `pk${String(p).padStart(9, "0")}`;

/** A fresh DeviceName string for route i (20-26 chars). */
export const benchDeviceName = (i: number): string => `dev-${i.toString(36).padStart(8, "0")}@site.${i % 97}`;
