"""Render and compare what Fleet deploys from this repository, with Fleet's own CLI and Helm.

`python -m tools.gitops.render` writes rendered/{edge,cloud,none}/<bundle>.yaml;
`python -m tools.gitops.plan REV` shows, per cluster group, what the working tree changes versus REV.
"""
