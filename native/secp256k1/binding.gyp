{
  "targets": [
    {
      "target_name": "secp256k1_native",
      "sources": ["src/secp256k1_addon.c"],
      "cflags_c": [
        "-std=c11",
        "-Wall",
        "-Wextra",
        "-Wconversion",
        "-fstack-protector-strong",
        "-D_FORTIFY_SOURCE=2",
        "<!@(pkg-config --cflags libsecp256k1)"
      ],
      "libraries": ["<!@(pkg-config --libs libsecp256k1)"]
    }
  ]
}
