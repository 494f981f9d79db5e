// The frame of every screen: masthead (registry name, signed-in user menu), navigation, content.
import {
  Brand,
  Button,
  Dropdown,
  DropdownItem,
  DropdownList,
  Masthead,
  MastheadBrand,
  MastheadContent,
  MastheadLogo,
  MastheadMain,
  MastheadToggle,
  MenuToggle,
  Nav,
  NavItem,
  NavList,
  Page,
  PageSidebar,
  PageSidebarBody,
  PageToggleButton,
  SkipToContent,
  Toolbar,
  ToolbarContent,
  ToolbarGroup,
  ToolbarItem,
} from '@patternfly/react-core';
import {useState} from 'react';
import {NavLink, Outlet, useLocation, useNavigate} from 'react-router-dom';
import {useConfig} from 'src/hooks/UseConfig';
import {useCurrentUser, useSignOut} from 'src/hooks/UseCurrentUser';

function UserMenu() {
  const {data: user} = useCurrentUser();
  const signOut = useSignOut();
  const navigate = useNavigate();
  const [open, setOpen] = useState(false);
  if (!user) {
    return (
      <Button variant="primary" onClick={() => navigate('/signin')}>
        Sign in
      </Button>
    );
  }
  return (
    <Dropdown
      isOpen={open}
      onOpenChange={setOpen}
      popperProps={{position: 'right'}}
      toggle={(ref) => (
        <MenuToggle ref={ref} onClick={() => setOpen(!open)} isExpanded={open} aria-label={`User menu: ${user.username}`}>
          {user.username}
        </MenuToggle>
      )}
    >
      <DropdownList>
        <DropdownItem key="settings" onClick={() => navigate(`/user/${user.username}?tab=settings`)}>
          Account settings
        </DropdownItem>
        <DropdownItem
          key="signout"
          onClick={() => signOut.mutateAsync().finally(() => navigate('/signin'))}
        >
          Sign out
        </DropdownItem>
      </DropdownList>
    </Dropdown>
  );
}

function Navigation() {
  const {data: user} = useCurrentUser();
  const location = useLocation();
  const items: [string, string][] = [
    ['/repository', 'Repositories'],
    ['/organization', 'Organizations'],
  ];
  if (user) items.push([`/user/${user.username}`, 'My namespace']);
  if (user?.super_user) items.push(['/superuser', 'Superuser']);
  return (
    <Nav aria-label="Main">
      <NavList>
        {items.map(([to, label]) => (
          <NavItem key={to} isActive={location.pathname.startsWith(to)}>
            <NavLink to={to}>{label}</NavLink>
          </NavItem>
        ))}
      </NavList>
    </Nav>
  );
}

export function AppLayout() {
  const {data: config} = useConfig();
  const title = config?.config.REGISTRY_TITLE_SHORT || config?.config.REGISTRY_TITLE || 'Registry';
  const masthead = (
    <Masthead>
      <MastheadMain>
        <MastheadToggle>
          <PageToggleButton variant="plain" aria-label="Navigation" />
        </MastheadToggle>
        <MastheadBrand>
          <MastheadLogo href="/repository">
            <Brand src="/favicon.svg" alt="" heights={{default: '32px'}} />
            <span style={{marginLeft: '0.5rem', fontSize: '1.25rem'}}>{title}</span>
          </MastheadLogo>
        </MastheadBrand>
      </MastheadMain>
      <MastheadContent>
        <Toolbar isFullHeight isStatic>
          <ToolbarContent>
            <ToolbarGroup align={{default: 'alignEnd'}}>
              <ToolbarItem>
                <UserMenu />
              </ToolbarItem>
            </ToolbarGroup>
          </ToolbarContent>
        </Toolbar>
      </MastheadContent>
    </Masthead>
  );
  const sidebar = (
    <PageSidebar>
      <PageSidebarBody>
        <Navigation />
      </PageSidebarBody>
    </PageSidebar>
  );
  return (
    <Page
      masthead={masthead}
      sidebar={sidebar}
      isManagedSidebar
      skipToContent={<SkipToContent href="#main">Skip to content</SkipToContent>}
      mainContainerId="main"
    >
      <Outlet />
    </Page>
  );
}
