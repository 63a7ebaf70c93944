-- qa-reload's language server in Neovim's built-in LSP client (0.7 or
-- newer): put this in ~/.config/nvim/init.lua (or a file it requires).
-- Every YAML file under a workflows/ or config/ folder attaches to one
-- `qa-reload lsp` per repository.
local clients = {}
vim.api.nvim_create_autocmd('FileType', {
  pattern = 'yaml',
  callback = function(args)
    local file = vim.api.nvim_buf_get_name(args.buf)
    local root = file:match('^(.*)/workflows/') or file:match('^(.*)/config/[^/]*$')
    if not root then
      return
    end
    if not clients[root] then
      clients[root] = vim.lsp.start_client({
        name = 'qa-reload',
        cmd = { vim.g.qa_reload_cmd or 'qa-reload', 'lsp' },
        root_dir = root,
      })
    end
    vim.lsp.buf_attach_client(args.buf, clients[root])
  end,
})
