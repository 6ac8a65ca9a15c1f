-- busted's usual terminal output plus a last plain line "N passed, N failed, N skipped",
-- which CI reads to know how many tests ran.
return function(options)
  local busted = require "busted"
  local handler = require "busted.outputHandlers.utfTerminal"(options)
  busted.subscribe({ "suite", "end" }, function()
    io.write(("%d passed, %d failed, %d skipped\n"):format(#handler.successes,
      #handler.failures + #handler.errors, #handler.pendings))
    io.flush()
    return nil, true
  end)
  return handler
end
