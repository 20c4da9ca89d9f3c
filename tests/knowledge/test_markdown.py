from knowledge.markdown import plain_text, render_markdown


def test_markdown_subset_is_rendered():
    html = render_markdown("# Steps\n\n1. Open **the** app\n2. Run `ipconfig /flushdns`\n\n"
                           "- a *b*\n\nSee [the portal](https://portal.example/x?a=1&b=2).")
    assert "<h2>Steps</h2>" in html and "<ol><li>Open <strong>the</strong> app</li>" in html
    assert "<code>ipconfig /flushdns</code>" in html and "<ul><li>a <em>b</em></li></ul>" in html
    assert '<a href="https://portal.example/x?a=1&amp;b=2" rel="noopener">the portal</a>' in html


def test_nothing_the_author_writes_becomes_markup():
    html = render_markdown('<script>alert(1)</script>\n\n[x](javascript:alert(1))\n\n'
                           '[y](/ok" onmouseover="alert(1))\n\n```\n<b>code</b>\n```')
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert 'href="javascript' not in html
    assert 'onmouseover="' not in html
    assert "<pre><code>&lt;b&gt;code&lt;/b&gt;</code></pre>" in html


def test_plain_text_drops_marks():
    assert plain_text("## Title\n**bold** [link](https://x)").split() == ["Title", "bold",
                                                                         "link"]
