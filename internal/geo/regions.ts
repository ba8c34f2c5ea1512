import type { LatLon } from "./distance.js";

/**
 * Where well-known region ids are (the city of the region's data centres),
 * so a federation of these regions needs no coordinates in its
 * configuration. `geo.regions` adds regions and overrides these.
 */
export const KNOWN_REGIONS: Readonly<Record<string, LatLon>> = {
  "cn-shanghai": { latitude: 31.23, longitude: 121.47 },
  "cn-beijing": { latitude: 39.9, longitude: 116.4 },
  "cn-hangzhou": { latitude: 30.27, longitude: 120.16 },
  "cn-shenzhen": { latitude: 22.54, longitude: 114.06 },
  "cn-qingdao": { latitude: 36.07, longitude: 120.38 },
  "cn-zhangjiakou": { latitude: 40.81, longitude: 114.88 },
  "cn-chengdu": { latitude: 30.57, longitude: 104.07 },
  "cn-hongkong": { latitude: 22.32, longitude: 114.17 },
  "ap-southeast-1": { latitude: 1.35, longitude: 103.82 },
  "ap-southeast-2": { latitude: -33.87, longitude: 151.21 },
  "ap-southeast-3": { latitude: 3.14, longitude: 101.69 },
  "ap-southeast-5": { latitude: -6.21, longitude: 106.85 },
  "ap-northeast-1": { latitude: 35.68, longitude: 139.69 },
  "ap-northeast-2": { latitude: 37.57, longitude: 126.98 },
  "ap-south-1": { latitude: 19.08, longitude: 72.88 },
  "eu-central-1": { latitude: 50.11, longitude: 8.68 },
  "eu-west-1": { latitude: 51.51, longitude: -0.13 },
  "me-east-1": { latitude: 25.2, longitude: 55.27 },
  "us-west-1": { latitude: 37.39, longitude: -122.08 },
  "us-east-1": { latitude: 38.95, longitude: -77.45 },
};
