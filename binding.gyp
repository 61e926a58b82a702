# The one native target, loaded only by src/os.ts through node-gyp-build: build/Release/handoff_native.node
# when built here, else prebuilds/<platform>-<arch>/ (made at `npm pack` by scripts/prebuilds.ts, N-API, so
# one binary serves every Node version). The `install` script (node-gyp-build) builds from source only when
# no prebuild loads: `npm ci` in a clone does. C++ exceptions are off: errors are thrown as JS exceptions.
{
  "targets": [
    {
      "target_name": "handoff_native",
      "sources": ["native/handoff_native.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags": ["-Wall", "-Wextra"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra"]
    }
  ]
}
