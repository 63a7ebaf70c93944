-- Run by tests/it/lsp_nvim.rs: `nvim --headless -u NONE -l`-style, with
-- QA_RELOAD_BIN and QA_RELOAD_REPO set. Opens a workflow, types an error,
-- waits for the diagnostic, then jumps from `integration: jira` to the
-- config file. Prints `ok` and quits 0, or prints what failed and quits 1.
vim.g.qa_reload_cmd = os.getenv('QA_RELOAD_BIN')
vim.cmd('filetype on')
dofile(os.getenv('QA_RELOAD_SNIPPET'))
local repo = os.getenv('QA_RELOAD_REPO')

local function fail(message)
  io.stdout:write('FAIL: ' .. message .. '\n')
  vim.cmd('cquit 1')
end

vim.cmd('edit ' .. repo .. '/workflows/login.yaml')
local buf = vim.api.nvim_get_current_buf()
local attached = vim.wait(10000, function()
  return #vim.lsp.buf_get_clients(buf) > 0
end, 20)
if not attached then
  return fail('the client did not attach')
end

-- Type an error, unsaved: a range check only `check` and the server make.
vim.api.nvim_buf_set_lines(buf, 4, 5, false, { '    estimated_minutes: 5000' })
local seen = vim.wait(10000, function()
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    if d.message:find('`estimated_minutes` must be between 1 and 1440', 1, true) and d.lnum == 4 and d.col == 23 then
      return true
    end
  end
  return false
end, 20)
if not seen then
  return fail('no diagnostic for the typed error: ' .. vim.inspect(vim.diagnostic.get(buf)))
end

-- Fix it: the diagnostic goes.
vim.api.nvim_buf_set_lines(buf, 4, 5, false, { '    estimated_minutes: 50' })
if not vim.wait(10000, function() return #vim.diagnostic.get(buf) == 0 end, 20) then
  return fail('the fixed error stayed: ' .. vim.inspect(vim.diagnostic.get(buf)))
end

-- Go to definition on `jira` (line 6, `    integration: jira`).
vim.api.nvim_win_set_cursor(0, { 6, 19 })
vim.lsp.buf.definition()
local jumped = vim.wait(10000, function()
  return vim.api.nvim_buf_get_name(0):find('config/jira_config.yaml', 1, true) ~= nil
end, 20)
if not jumped then
  return fail('definition did not open the config file: ' .. vim.api.nvim_buf_get_name(0))
end
io.stdout:write('ok\n')
vim.cmd('qall!')
