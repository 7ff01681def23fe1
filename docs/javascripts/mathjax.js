// MathJax 3 configuration for pymdownx.arithmatex (generic mode), as in the
// mkdocs-material documentation: typeset \( \) and \[ \] inside .arithmatex only, and
// re-typeset after every instant-navigation page change. Notebook pages (mkdocs-jupyter)
// keep $...$ delimiters, so those are accepted inside their markdown cells too.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"], ["$", "$"]],
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    ignoreHtmlClass: ".*|",
    // Rendered notebook markdown keeps its $...$ and sits in .jp-MarkdownOutput.
    processHtmlClass: "arithmatex|jp-MarkdownOutput",
  },
};

if (typeof document$ !== "undefined") {
  document$.subscribe(() => {
    MathJax.startup.output.clearCache();
    MathJax.typesetClear();
    MathJax.texReset();
    MathJax.typesetPromise();
  });
}
