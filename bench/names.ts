/** The synthetic federation every benchmark uses: 1,000 products, three holders, DeviceNames with `@` and `.`. */
export const BENCH_HOLDERS = ["iot-ap-southeast-1-1", "iot-eu-central-1-1", "iot-us-west-1-1"] as const;

export const benchProductKey = (p: number): string => `pk${String(p).padStart(9, "0")}`;

/** A fresh DeviceName string for route i (20-26 chars). */
export const benchDeviceName = (i: number): string => `dev-${i.toString(36).padStart(8, "0")}@site.${i % 97}`;

/** The holders' regions: the nearest benchmark locates candidates by them. */
export const BENCH_HOLDER_REGIONS = ["ap-southeast-1", "eu-central-1", "us-west-1"] as const;

/** Products 0..NEAREST_PRODUCTS-1 are nearest-strategy products in the nearest benchmark. */
export const NEAREST_PRODUCTS = 500;
