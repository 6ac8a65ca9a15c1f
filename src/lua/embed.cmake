# Turns a Lua source file into a C array, so pure-Lua parts ship inside the module (one .so).
# cmake -DINPUT=file.lua -DOUTPUT=file.c -DSYMBOL=name -P embed.cmake
file(READ "${INPUT}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
file(WRITE "${OUTPUT}" "/* Generated from ${INPUT} by embed.cmake. */\n#include <stddef.h>\n"
     "const unsigned char ${SYMBOL}[] = {\n${bytes}};\n"
     "const size_t ${SYMBOL}_size = sizeof ${SYMBOL};\n")
