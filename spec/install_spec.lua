-- `cmake --install` into a temporary prefix, then what an outside user does with it: the
-- module from the system lua5.4, the installed shmlua, and the examples built as outside
-- projects, once with pkg-config and once with find_package(shmlua).
local H = require "helper"

local root = os.getenv("PWD")

local function readfile(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

-- Runs a shell command; asserts it succeeded (showing its output if not); returns stdout.
local function ok(cmd)
  local out, success = H.sh(cmd .. " 2>&1")
  assert(success, cmd .. "\n" .. out)
  return out
end

-- The sanitized build's static libraries need the sanitizer runtime in whatever links them.
local cache = readfile(H.build .. "/CMakeCache.txt") or ""
local sanitize = cache:find("SHMLUA_SANITIZE:BOOL=ON", 1, true) and "-fsanitize=address,undefined"
  or ""
-- Compilers and cmake run without the runtime the sanitized suite preloads into everything.
local tool = "env -u LD_PRELOAD "

describe("an installed shmlua #lua54", function()
  local prefix, work

  setup(function()
    prefix = os.tmpname()
    os.remove(prefix)
    work = prefix .. "-work"
    ok(("cmake --install %s --prefix %s >/dev/null && mkdir -p %s"):format(H.quote(H.build),
      H.quote(prefix), H.quote(work)))
  end)

  teardown(function()
    H.sh(("rm -rf %s %s"):format(H.quote(prefix), H.quote(work)))
  end)

  it("has the module, the core and binding libraries, headers, pkg-config, CMake config, man page",
    function()
      for _, file in ipairs { "lib/lua/5.4/shm.so", "lib/libshmlua_core.a", "lib/libshmlua_lua.a",
        "include/shmlua/block.h", "include/shmlua/error.h", "include/shmlua/luashm.h",
        "lib/pkgconfig/shmlua.pc", "lib/pkgconfig/shmlua-lua.pc",
        "lib/cmake/shmlua/shmluaConfig.cmake", "lib/cmake/shmlua/shmluaConfigVersion.cmake",
        "share/man/man1/shmlua.1" } do
        assert(readfile(prefix .. "/" .. file), "not installed: " .. file)
      end
      -- Every core header is installed but those only the core's own files share, and each
      -- installed header's includes resolve in the prefix.
      local internal = { ["dict_internal.h"] = true, ["extreme_kernel.h"] = true }
      for header in ok("ls " .. root .. "/src/core/*.h"):gmatch("([^/\n]+%.h)\n") do
        local text = readfile(prefix .. "/include/shmlua/" .. header)
        if internal[header] then
          assert(not text, "installed, though internal: " .. header)
        else
          assert(text, "not installed: " .. header)
          for included in text:gmatch('#include "([^"]+)"') do
            assert(readfile(prefix .. "/include/shmlua/" .. included),
              header .. " includes " .. included .. ", which is not installed")
          end
        end
      end
    end)

  it("has a man page that documents every option `shmlua --help` lists", function()
    local help = ok(H.quote(H.shmlua) .. " --help")
    local man = readfile(prefix .. "/share/man/man1/shmlua.1")
    local flags = 0
    -- The option column of each line: "-e stat", "-h, --help", "--dump NAME [I [J]]".
    for column in help:gmatch("\n  (%-.-)%s%s") do
      for word in column:gmatch("[^%s,]+") do
        if word:match("^%-%-?%a+$") then
          flags = flags + 1
          assert(man:find((word:gsub("%-", "\\-")), 1, true), "the man page lacks " .. word)
        end
      end
    end
    assert.is_true(flags >= 12)
  end)

  it("loads in the system lua5.4 through LUA_CPATH", function()
    local name = H.name("inst")
    local out = ok(("LUA_CPATH=%s lua5.4 -l shm -e %s"):format(
      H.quote(prefix .. "/lib/lua/5.4/?.so;;"),
      H.quote(("local m = assert(shm.create(10, %q)); m.buf:write(1, 'installed');"
        .. "io.write(m.buf:sub(1, 9), ' ', package.searchpath('shm', package.cpath)); m:unlink()")
        :format(name))))
    assert.equal("installed " .. prefix .. "/lib/lua/5.4/shm.so", out)
    assert.is_false(H.exists(name))
  end)

  it("starts shm.run scripts with its own shmlua from plain lua5.4, also once moved", function()
    -- Configured for /usr/local (or the build's prefix), installed elsewhere, then moved: the
    -- module finds the shmlua next to it, not a path fixed when it was built.
    local moved = prefix .. "-moved"
    finally(function() H.sh("rm -rf " .. H.quote(moved)) end)
    local script = work .. "/worker.lua"
    local f = assert(io.open(script, "w"))
    f:write("io.write(arg[-1], ' ', arg[1])")
    f:close()
    local function runs_from(tree)
      return ok(("cd / && env -u SHMLUA_EXE PATH=/usr/bin:/bin LUA_CPATH=%s lua5.4 -e %s"):format(
        H.quote(tree .. "/lib/lua/5.4/?.so;;"),
        H.quote(("assert(assert(require('shm').run(%q, 'hi')):wait())"):format(script))))
    end
    assert.equal(prefix .. "/bin/shmlua hi", runs_from(prefix))
    ok(("cp -a %s %s"):format(H.quote(prefix), H.quote(moved)))
    assert.equal(moved .. "/bin/shmlua hi", runs_from(moved))
  end)

  it("installs shmlua, which runs a chunk with the module", function()
    assert.equal("0.1.0\n", ok(("%s/bin/shmlua -e %s"):format(H.quote(prefix),
      H.quote("print(require('shm').version)"))))
  end)

  it("carries the reference of its own version: shm.help answers from docs/api.md", function()
    local page = readfile(root .. "/docs/api.md")
    local entry = page:match("\n(### shm%.inspect%(.-)\n+###")
    assert.is_not_nil(entry)
    local out = ok(("LUA_CPATH=%s lua5.4 -l shm -e %s"):format(
      H.quote(prefix .. "/lib/lua/5.4/?.so;;"), H.quote("io.write(shm.help('shm.inspect'))")))
    assert.equal(entry, out)
  end)

  -- The examples' programs: the embedded one runs its script; both make a child answer.
  local function check_examples(embed, core)
    local out = ok(("%s %s/examples/embed/share.lua"):format(H.quote(embed), root))
    assert.matches('^the child answered "pong" in block lua_%x+\n$', out)
    out = ok(H.quote(core))
    assert.matches('^the child answered "pong" in block lua_%x+\n$', out)
    assert.is_false(H.exists(out:match("lua_%x+")))
  end

  it("builds outside projects with pkg-config", function()
    local pc = ("PKG_CONFIG_PATH=%s/lib/pkgconfig pkg-config "):format(H.quote(prefix))
    for _, pkg in ipairs { "shmlua", "shmlua-lua" } do
      assert.equal("0.1.0\n", ok(pc .. "--modversion " .. pkg))
    end
    local embed, core = work .. "/pc-embed", work .. "/pc-core"
    ok(("%scc %s -o %s %s/examples/embed/embed.c $(%s --cflags --libs shmlua-lua)"):format(
      tool, sanitize, H.quote(embed), root, pc))
    ok(("%scc %s -o %s %s/examples/core/share.c $(%s --cflags --libs shmlua)"):format(
      tool, sanitize, H.quote(core), root, pc))
    check_examples(embed, core)
  end)

  it("builds outside projects with find_package(shmlua)", function()
    for _, example in ipairs { "embed", "core" } do
      local dir = work .. "/cmake-" .. example
      ok(("%scmake -S %s/examples/%s -B %s -DCMAKE_PREFIX_PATH=%s -DCMAKE_C_FLAGS=%s "
        .. "-DCMAKE_EXE_LINKER_FLAGS=%s >/dev/null && %scmake --build %s >/dev/null"):format(
        tool, root, example, H.quote(dir), H.quote(prefix), H.quote(sanitize), H.quote(sanitize),
        tool, H.quote(dir)))
    end
    check_examples(work .. "/cmake-embed/shmlua-embed", work .. "/cmake-core/shmlua-core-example")
  end)
end)

describe("the examples built with shmlua #lua54", function()
  it("embed Lua and share a block with a forked child, and use the C core alone", function()
    local embed = H.build .. "/examples/embed/shmlua-embed"
    local out, success = H.sh(("%s %s/examples/embed/share.lua 2>&1"):format(embed, root))
    assert(success, out)
    assert.matches('^the child answered "pong" in block lua_%x+\n$', out)
    out, success = H.sh(H.build .. "/examples/core/shmlua-core-example 2>&1")
    assert(success, out)
    assert.matches('^the child answered "pong" in block lua_%x+\n$', out)
  end)

  it("report a failing child", function()
    local out = H.run(H.build .. "/examples/embed/shmlua-embed",
      'local ok, err = fork_run("error(\'boom\')"); io.write(tostring(ok), " ", err)')
    assert.matches("child: fork_run:1: boom\nnil child %d+ failed", out)
  end)
end)

-- With the Lua running the specs: `luarocks --lua-version X make` (LuaJIT: 5.1's LuaRocks
-- pointed at LuaJIT's headers).
describe("the rockspec", function()
  it("says MIT, as LICENSE and the README do, and passes luarocks lint", function()
    local lint, clean = H.sh(("%sluarocks lint %s/lua/rockspec/shmlua-scm-1.rockspec 2>&1"):format(
      tool, root))
    assert(clean, lint)
    local spec, source = {}, readfile(root .. "/lua/rockspec/shmlua-scm-1.rockspec")
    if setfenv then -- 5.1 and LuaJIT
      setfenv(assert(loadstring(source, "rockspec")), spec)()
    else
      assert(load(source, "rockspec", "t", spec))()
    end
    assert.equal("MIT", spec.description.license)
    assert.matches("^MIT License\n\nCopyright %(c%) %d+ the shmlua authors\n",
      readfile(root .. "/LICENSE"))
    assert.equal("MIT, as Lua itself: see [LICENSE](LICENSE).",
      readfile(root .. "/README.md"):match("([^\n]+)\n*$"))
  end)

  -- luarocks make configures the same build.luarocks for every --lua-version: the Lua read
  -- from the headers it passes must follow them, with the libraries found for them.
  it("configures a build folder again for the Lua whose headers it is given #lua54", function()
    local dir = os.tmpname()
    os.remove(dir)
    local function configure(headers)
      local out = H.sh(("cmake -S %s -B %s -DLUA_INCLUDE_DIR=%s -DSHMLUA_EXAMPLES=OFF "
        .. "-DSHMLUA_BENCH=OFF -DSHMLUA_SPEC_PROGRAMS=OFF 2>&1"):format(root, H.quote(dir),
        headers))
      return out:match("the module is built for Lua (%S+)"),
        H.sh(("grep -E '^LUA_LIBRAR(Y|IES):' %s/CMakeCache.txt"):format(H.quote(dir)))
    end
    local got = {}
    for _, v in ipairs({ "5.1", "5.4", "luajit-2.1", "5.3" }) do
      local lua, libraries = configure("/usr/include/" .. (v:match("^luajit") and v or "lua" .. v))
      local lib = libraries:match("lib(luajit)") or libraries:match("liblua(5%.%d)")
      got[#got + 1] = lua .. " " .. tostring(lib)
    end
    H.sh("rm -rf " .. H.quote(dir))
    assert.same({ "5.1 5.1", "5.4 5.4", "luajit luajit", "5.3 5.3" }, got)
  end)

  it("builds and installs the module (and with 5.4 shmlua) with luarocks make into a tree of its own",
    function()
      local abi = H.lua_version == "luajit" and "5.1" or H.lua_version
      local jit = H.lua_version == "luajit" and " LUA_INCDIR=/usr/include/luajit-2.1" or ""
      local copy = os.tmpname()
      os.remove(copy)
      local tree = copy .. "-tree"
      -- luarocks builds in the current directory (build.luarocks/): use a copy of the sources
      -- (docs/api.md too: the module carries it for shm.help).
      ok(("mkdir -p %s/docs && cp -r %s/CMakeLists.txt %s/cmake %s/src %s/lua %s/README.md %s && "
        .. "cp %s/docs/api.md %s/docs"):format(H.quote(copy), root, root, root, root, root,
        H.quote(copy), root, H.quote(copy)))
      local out, success = H.sh(("cd %s && %sluarocks --lua-version %s make --tree %s "
        .. "lua/rockspec/shmlua-scm-1.rockspec%s 2>&1"):format(H.quote(copy), tool, abi,
        H.quote(tree), jit))
      local name = H.name("rock")
      local cdir = tree .. "/lib/lua/" .. abi
      local loaded = success and ok(("LUA_CPATH=%s %s -e %s"):format(
        H.quote(cdir .. "/?.so;;"), H.lua_exe,
        H.quote(("local shm = require 'shm' local m = assert(shm.create(8, %q)) m.buf:write(1, 'rock')"
          .. " io.write(m.buf:sub(1, 4), ' ', package.loaded.shm == shm and 'loaded') m:unlink()")
          :format(name))))
      local host = success
        and H.sh(H.quote(tree .. "/bin/shmlua") .. " -e 'io.write(shm.version)' 2>&1")
      local installed = io.open(cdir .. "/shm.so")
      -- shm.run from plain lua5.4 finds the tree's shmlua, with no PATH to help.
      local script = copy .. "/worker.lua"
      local f = assert(io.open(script, "w"))
      f:write("io.write(arg[-1])")
      f:close()
      local ran = success and H.lua_version == "5.4" and H.sh(("cd / && env -u SHMLUA_EXE "
        .. "PATH=/usr/bin:/bin LUA_CPATH=%s lua5.4 -e %s 2>&1"):format(H.quote(cdir .. "/?.so;;"),
        H.quote(("assert(assert(require('shm').run(%q)):wait())"):format(script))))
      H.sh(("rm -rf %s %s"):format(H.quote(copy), H.quote(tree)))
      assert(success, out)
      assert.equal("rock loaded", loaded)
      assert.is_not_nil(installed, "no " .. cdir .. "/shm.so")
      installed:close()
      if H.lua_version == "5.4" then
        assert.equal("0.1.0", host) -- the rock installs the shmlua command too
        assert.equal(tree .. "/bin/shmlua", ran)
      end
    end)
end)
