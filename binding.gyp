# The one native target: src/os.ts loads build/Release/handoff_native.node (DESIGN: one small in-repo addon).
# npm ci builds it through npm's bundled node-gyp (a package with binding.gyp and no install script gets
# `node-gyp rebuild`). C++ exceptions are off: errors are thrown as JS exceptions by hand.
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
