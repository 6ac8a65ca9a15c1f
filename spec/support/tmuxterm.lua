-- A pseudo-terminal driven by tmux on a private server (its own socket), for specs that use
-- a program the way a person does: start it, type, read the screen.
local H = require "helper"

local Term = {}
Term.__index = Term

-- Starts cmd (a shell command) in a fresh tmux server. When it ends, the pane shows
-- "EXIT:<status>" and stays open so the screen can still be read.
function Term.start(cmd, opts)
  opts = opts or {}
  local t = setmetatable({ socket = H.name("term") }, Term)
  t.tmux = "tmux -L " .. t.socket .. " "
  local script = ("%s%s; echo EXIT:$?; exec sleep 300"):format(H.env, cmd)
  local _, ok = H.sh(("%snew-session -d -x %d -y %d %s 2>&1"):format(t.tmux,
    opts.width or 100, opts.height or 50, H.quote(script)))
  assert(ok, "tmux did not start")
  return t
end

-- The screen with its scrollback; tmux drops the blanks at the end of each line (so a
-- prompt "> " reads ">"), and the blank lines at the end are removed here.
function Term:screen()
  return (H.sh(self.tmux .. "capture-pane -p -S -1000 2>&1"):gsub("\n+$", "\n"))
end

-- Waits until the screen matches pattern (plain text unless lua_pattern); returns the screen.
function Term:waitfor(text, seconds, lua_pattern)
  local deadline = os.time() + (seconds or 10)
  repeat
    local screen = self:screen()
    if screen:find(text, 1, not lua_pattern) then return screen end
    H.sh("sleep 0.05")
  until os.time() > deadline
  error(("the screen never showed %q:\n%s"):format(text, self:screen()), 2)
end

-- Types text literally (no key names), then Enter unless noenter.
function Term:type(text, noenter)
  assert(H.sh(self.tmux .. "send-keys -l -- " .. H.quote(text)))
  if not noenter then self:key("Enter") end
end

-- Presses keys by name: "Enter", "C-c", "C-d", "Up".
function Term:key(...)
  assert(H.sh(self.tmux .. "send-keys " .. table.concat({ ... }, " ")))
end

function Term:stop()
  H.sh(self.tmux .. "kill-server 2>/dev/null")
end

return Term
