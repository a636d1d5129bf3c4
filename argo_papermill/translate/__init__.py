"""Execution request + processor configuration -> Argo Workflow manifests, built with hera.

``plan`` resolves every value (paths, argv slots, pod fields) as plain data; ``notebook`` turns a
plan into hera objects; ``scripts`` holds the constant shell scripts of the in-pod contract.
"""
