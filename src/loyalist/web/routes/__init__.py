"""Console page groups; every module exposing `router` is included by `loyalist.web.app`."""
