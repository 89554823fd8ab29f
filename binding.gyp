{
  "targets": [
    {
      "target_name": "original_dst",
      "sources": ["native/original_dst.cc"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra"],
      "defines": ["NAPI_VERSION=8"],
      "conditions": [
        ["OS!='linux'", { "type": "none", "sources!": ["native/original_dst.cc"] }]
      ]
    }
  ]
}
