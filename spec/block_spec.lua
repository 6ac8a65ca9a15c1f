local H = require "helper"
local shm = require "shm"

describe("shm.create", function()
  it("makes a block of the asked size that is a real /dev/shm file", function()
    local m <close> = assert(shm.create(100))
    assert.equal(100, m.size)
    assert.is_true(H.exists(m.name))
    assert.is_nil(m.name:find("/"))
    m:unlink()
  end)
end)
