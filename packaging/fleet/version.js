// The hubwire version the fleet reports (packaging/build.mjs writes the package's).
export const VERSION = "0.0.0-dev";
